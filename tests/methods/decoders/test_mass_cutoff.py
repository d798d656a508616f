"""Radix-selected mass cut-offs against a brute-force scan of every distinct key."""

import pytest
import torch

from entropy_bench.methods.decoders.mass_cutoff import mass_cutoff, ordered_bits


def brute_force(key, mass, level, strict):
    """min {v in key : Σ_{key ≤ v} mass (float64, rounded to mass's dtype) reaches level}; max key if none."""
    out = []
    for k, m in zip(key, mass, strict=True):
        values = torch.unique(k)
        sums = torch.stack([m[k <= v].double().sum() for v in values]).to(m.dtype)
        reached = sums > level if strict else sums >= level
        out.append(values[reached.nonzero()[0, 0]] if reached.any() else k.max())
    return ordered_bits(torch.stack(out)).unsqueeze(-1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("seed", range(20))
def test_matches_a_scan_over_every_key(dtype, strict, seed):
    g = torch.Generator().manual_seed(seed)
    vocab = int(torch.randint(1, 80, (), generator=g))
    key = torch.randn(6, vocab, generator=g, dtype=dtype) * 10 ** float(torch.empty(()).uniform_(-3, 3, generator=g))
    if seed % 3 == 0:
        key = key.round()  # many ties
    if seed % 4 == 0:
        key[:, :2] = float("-inf")
    mass = torch.rand(6, vocab, generator=g, dtype=dtype)
    mass = mass / mass.sum(-1, keepdim=True)
    level = float(torch.rand((), generator=g))
    assert torch.equal(mass_cutoff(key, mass, level, strict), brute_force(key, mass, level, strict))


def test_ties_share_one_cumulative_mass():
    key = torch.tensor([[0.0, 1.0, 1.0, 2.0]])
    mass = torch.tensor([[0.1, 0.2, 0.2, 0.5]])
    # F(0) = 0.1, F(1) = 0.5 (both tied tokens), F(2) = 1.0
    assert mass_cutoff(key, mass, 0.3, strict=True) == ordered_bits(torch.tensor(1.0))
    assert mass_cutoff(key, mass, 0.5, strict=False) == ordered_bits(torch.tensor(1.0))
    assert mass_cutoff(key, mass, 0.5, strict=True) == ordered_bits(torch.tensor(2.0))


def test_a_row_that_never_reaches_the_level_gets_its_largest_key():
    key = torch.tensor([[3.0, -1.0, float("inf")]])
    mass = torch.tensor([[0.2, 0.2, 0.0]])
    assert mass_cutoff(key, mass, 0.9, strict=False) == ordered_bits(torch.tensor(float("inf")))


def test_ordered_bits_orders_like_the_floats_and_ties_signed_zeros():
    values = torch.tensor([float("-inf"), -1e30, -2.5, -1e-40, -0.0, 0.0, 1e-40, 3.0, float("inf")])
    bits = ordered_bits(values)
    assert torch.equal(bits.argsort(stable=True), values.argsort(stable=True))
    assert bits[4] == bits[5]
    assert (bits[1:] >= bits[:-1]).all()
    assert ordered_bits(values.double()).dtype == torch.int64

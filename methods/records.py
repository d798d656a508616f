"""Plain record types that the runner's tracks produce and methods consume.

``methods/`` never imports the runner: a measure or an estimator types against these records
only. Each record is a plain dataclass of lists, arrays and numbers, so it round-trips through
the content-addressed cache (``to_dict`` / ``from_dict``).

- :class:`Generation` — one generated continuation with its per-token statistics (made by a
  generation backend, read by uncertainty measures).
- :class:`SampleSet` — i.i.d. samples of a distribution with known truth (made by a data
  task, read by entropy estimators).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

SAMPLE_KINDS = ("discrete", "continuous", "paired")


@dataclass
class Generation:
    """One generated continuation and its per-token statistics (lists of length T).

    ``logprob[t]`` and ``entropy[t]`` are those of the model's own distribution at step t,
    ``warped_*`` those of the decoder's output; ``top_ids`` / ``top_logprobs`` the k most
    probable tokens under the model. ``extra`` holds decoder-specific statistics (two-model
    decoding: see ``entropy_bench.generation``).
    """

    text: str
    token_ids: list[int]
    logprob: list[float]
    entropy: list[float]
    warped_logprob: list[float]
    warped_entropy: list[float]
    top_ids: list[list[int]]
    top_logprobs: list[list[float]]
    finish_reason: str  # "eos" | "stop" | "length"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict) -> "Generation":
        return cls(**data)


@dataclass
class SampleSet:
    """n i.i.d. samples of one distribution.

    - ``kind="discrete"``: ``x`` holds int symbols ``[n]`` in ``0 … alphabet_size − 1``
      (``alphabet_size`` is the support size K when known, else ``None``);
    - ``kind="continuous"``: ``x`` holds floats ``[n, d]``;
    - ``kind="paired"``: ``x`` ``[n, d_x]`` and ``y`` ``[n, d_y]`` are joint samples of (X, Y),
      for mutual information.
    """

    kind: str
    x: np.ndarray
    y: np.ndarray | None = None
    alphabet_size: int | None = None

    def __post_init__(self):
        if self.kind not in SAMPLE_KINDS:
            raise ValueError(f"unknown sample kind {self.kind!r}; one of {', '.join(SAMPLE_KINDS)}")
        if (self.kind == "paired") != (self.y is not None):
            raise ValueError("a paired sample set has both x and y; other kinds have x only")

    @property
    def n(self) -> int:
        return len(self.x)

    def counts(self) -> np.ndarray:
        """Occurrences of each symbol ``[alphabet_size or max + 1]`` (discrete samples only)."""
        if self.kind != "discrete":
            raise TypeError(f"counts() needs discrete samples, got {self.kind!r}")
        size = self.alphabet_size or (int(self.x.max()) + 1 if self.n else 0)
        return np.bincount(np.asarray(self.x, dtype=np.int64), minlength=size)

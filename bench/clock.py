"""Wall seconds per named section of a loop: the time split of ``bench profile generation``.

``clock(section)`` is a context manager that adds the seconds spent inside it to
``clock.seconds[section]``. On an accelerator, work is queued asynchronously, so a profile
passes ``sync`` (``torch.cuda.synchronize``) to wait for it at each section's edges; that wait
is what makes a timed run slower than an untimed one. Code that is timed takes a clock and
defaults to :func:`untimed`.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from typing import Callable, Iterator


class SectionClock:
    def __init__(self, sync: Callable[[], None] | None = None):
        self.seconds: dict[str, float] = defaultdict(float)
        self.sync = sync or (lambda: None)

    @contextlib.contextmanager
    def __call__(self, section: str) -> Iterator[None]:
        self.sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            self.sync()
            self.seconds[section] += time.perf_counter() - start


def untimed(section: str) -> contextlib.AbstractContextManager:
    """The clock of code that is not being profiled: times nothing."""
    return contextlib.nullcontext()

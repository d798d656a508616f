import os
import sys
from pathlib import Path

import pytest

# Triton kernels run in its interpreter on CPU. Triton's own @triton.jit functions (tl.zeros, …)
# are built for the interpreter only if TRITON_INTERPRET is set when triton.language is first
# imported, and importing any transformers model class imports it: so it is set here, in the
# conftest pytest loads before it imports any test module (tests/kernels/test_softmax_stats.py
# checks the result).
os.environ["TRITON_INTERPRET"] = "1"

sys.path.insert(0, str(Path(__file__).parent))

from tiny_model import build_tiny_model  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def shared_data() -> Path:
    """``$BENCH_DATA_DIR`` (CI sets it to ../shared/data); tests needing real data skip without it."""
    value = os.environ.get("BENCH_DATA_DIR")
    if not value or not Path(value).is_dir():
        pytest.skip("BENCH_DATA_DIR is not set to the shared data directory")
    return Path(value)

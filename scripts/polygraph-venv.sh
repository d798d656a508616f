#!/usr/bin/env bash
# LM-Polygraph 0.7.0 in a virtualenv of its own (its dependencies clash with the suite's), for the
# parity and speed checks of `scripts/polygraph_parity.py` — run by hand, not in CI.
#   scripts/polygraph-venv.sh [VENV_DIR]     (default: .polygraph-venv)
# (-P: the check runs from the repo root, whose kernels/ would shadow the PyPI module transformers imports.)
# torch is installed first, pinned to the CPU wheel, so that lm-polygraph's `torch>=2.6` is met
# without pip pulling a CUDA build.
set -euo pipefail
venv="${1:-.polygraph-venv}"
python3 -m venv "$venv"
"$venv/bin/pip" install -q torch==2.13.0
"$venv/bin/pip" install -q lm-polygraph==0.7.0
"$venv/bin/python" -P -c "import lm_polygraph, torch; print('lm-polygraph', lm_polygraph.__version__ if hasattr(lm_polygraph, '__version__') else '0.7.0', 'torch', torch.__version__)"

"""scripts/lmeval_parity.py end to end on a tiny model (4096 positions, so lm-eval's few-shot
prompts fit) and two questions of each task: lm-eval's own task and ``hf`` model against our
adapter; identical prompts and texts give full agreement, and a planted disagreement is listed."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tiny_model import build_tiny_model

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "lmeval_parity.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("lmeval_parity", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def long_tiny_model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-4k"), n_positions=4096)


@pytest.mark.parametrize("task", ["gsm8k", "math500"])
def test_two_questions_agree_everywhere(task, long_tiny_model, shared_data, tmp_path):
    script = _load_script()
    assert script.main(["--task", task, "--limit", "2", "--model", str(long_tiny_model), "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / f"{task}.json").read_text())
    assert report["n"] == 2 and report["disagreements"] == []
    assert set(report["agreement"]) >= {"prompt", "text", *script.VERDICTS[task]}
    assert all(v == 1.0 for v in report["agreement"].values())
    assert report["settings"]["until"] == report["settings"]["ours_stop"]
    assert "## Disagreements (0)" in (tmp_path / f"{task}.md").read_text()


def test_a_disagreement_is_listed_with_both_sides():
    script = _load_script()
    mine = [{"prompt": "p", "text": "x #### 4", "answer": "4", "exact_match_strict": 1.0, "exact_match_flexible": 1.0}]
    filters = {"strict-match": {"answer": "5", "exact_match": 0.0}, "flexible-extract": {"answer": "5", "exact_match": 0.0}}
    theirs = {0: {"prompt": "p", "gen_kwargs": {"until": ["Question:"]}, "text": "x #### 5", "filters": filters}}
    report = script.compare("gsm8k", mine, theirs, ("Question:",), 256)
    assert report["agreement"] == {"prompt": 1.0, "text": 0.0, "answer": 0.0, "exact_match_strict": 0.0,
                                   "exact_match_flexible": 0.0}
    (d,) = report["disagreements"]
    assert d["differs"] == ["text", "answer", "exact_match_strict", "exact_match_flexible"]
    assert d["lm_eval"]["filters"]["strict-match"]["answer"] == "5"
    assert "doc 0: differs in text, answer" in script.markdown("gsm8k", report, "cmd")

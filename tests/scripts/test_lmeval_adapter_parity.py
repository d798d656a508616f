"""scripts/lmeval_adapter_parity.py on a tiny model and two GSM8K questions: ``bench lm-eval
--model entropy_bench`` (lm-eval's own gsm8k task on the local data, through lm-eval's command
line) gives our GSM8K adapter's texts and answers, greedy and sampled with the same row seeds."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from tiny_model import build_tiny_model

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "lmeval_adapter_parity.py"


def test_two_questions_give_the_same_answers_greedy_and_sampled(shared_data, tmp_path):
    spec = importlib.util.spec_from_file_location("lmeval_adapter_parity", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    model = build_tiny_model(tmp_path / "tiny-4k", n_positions=4096)
    out = tmp_path / "out"
    assert script.main(["--limit", "2", "--model", str(model), "--sampler", "temperature(temperature=1.0)",
                        "--out", str(out)]) == 0
    reports = json.loads((out / "adapter.json").read_text())
    assert set(reports) == {"greedy", "temperature(temperature=1.0)"}
    for report in reports.values():
        assert (report["n"], report["same_text"], report["same_answer"], report["differ"]) == (2, 2, 2, [])


def test_a_sweep_decoder_entry_rebuilds_the_decoder():
    spec = importlib.util.spec_from_file_location("lmeval_adapter_parity", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    from entropy_bench.methods.decoders.base import build_decoder

    for decoder_id in ("greedy", "min_p(min_p=0.1)", "temperature(temperature=0.7)+top_p(top_p=0.9)"):
        assert build_decoder(script.sweep_decoder(decoder_id)).id == decoder_id

"""scripts/polygraph_speed.py without LM-Polygraph and without a real model: the sweep restricted
for a check, the prompts export (arithmetic: no data needed), LM-Polygraph's auto batch size,
``report`` on hand-made JSONs (standard library only), and ``ours`` end to end on the suite's
tiny model. ``theirs`` runs only in LM-Polygraph's venv (``POLYGRAPH_PYTHON``, as
test_polygraph_compare.py)."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from entropy_bench import sweep

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "polygraph_speed.py"


def _load_script(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ps = _load_script("polygraph_speed", SCRIPT)

# SmolLM2-135M-Instruct's shape (config.json): what LM-Polygraph's batches hold per prompt
SMOLLM2 = {"n_layers": 30, "hidden": 576, "vocab": 49152, "kv_width": 3 * 64}


@pytest.fixture(scope="module")
def arithmetic_cells():
    return sweep.expand(ps.load_spec(ps.DEFAULT_SWEEP, tasks=["arithmetic"]))


def test_load_spec_unchanged_without_options():
    assert [c.key for c in sweep.expand(ps.load_spec())] == \
        [c.key for c in sweep.expand(sweep.load(ps.DEFAULT_SWEEP))]


def test_load_spec_restricts_limits_and_replaces_the_model(tmp_path):
    cells = sweep.expand(ps.load_spec(ps.DEFAULT_SWEEP, tasks=["arithmetic"], limit=3, model=str(tmp_path)))
    assert [(c.task_run.task.name, c.task_run.limit, c.task_run.max_new_tokens, c.model) for c in cells] == \
        [("arithmetic", 3, 8, str(tmp_path))]
    assert cells[0].n_samples == 5 and cells[0].measures  # the rest of the sweep is kept
    with pytest.raises(SystemExit, match="no task nope"):
        ps.load_spec(ps.DEFAULT_SWEEP, tasks=["nope"])


def test_prompts_document_is_the_tasks_own_prompts(arithmetic_cells):
    (cell,) = arithmetic_cells
    task = cell.task_run.task
    examples = task.load("test", 50)
    document = json.loads(json.dumps(ps.prompts_document(arithmetic_cells, "polygraph-parity")))
    assert document["format"] == ps.PROMPTS_FORMAT and document["sweep"] == "polygraph-parity"
    (t,) = document["tasks"]
    assert t["name"] == "arithmetic" and t["task"] == task.id and t["split"] == "test"
    assert t["prompts"] == [task.prompt(e) for e in examples] and len(t["prompts"]) == 50
    assert t["targets"] == [task.target(e) for e in examples]
    assert t["ids"] == [str(e["id"]) for e in examples]
    assert t["stop"] == list(task.stop) == ["\n", "\n\n", "Question:", "<|im_end|>"]
    assert (t["max_new_tokens"], t["n_samples"], t["decoder"], t["sample_decoder"], t["batch_size"], t["seed"]) == \
        (8, 5, "greedy", "temperature(temperature=1.0)", 48, 0)
    assert t["prompts"][0].endswith(f"{examples[0]['expression']} =")
    # the hash covers what is generated from, and nothing else
    assert document["sha256"] == ps.prompts_sha256(document)
    changed = copy.deepcopy(document)
    changed["tasks"][0]["prompts"][3] += " "
    assert ps.prompts_sha256(changed) != document["sha256"]
    changed = copy.deepcopy(document)
    changed["tasks"][0]["stop"] = ["\n"]
    assert ps.prompts_sha256(changed) != document["sha256"]
    changed = copy.deepcopy(document)
    changed["tasks"][0]["ids"] = []
    assert ps.prompts_sha256(changed) == document["sha256"]


def test_prompts_subcommand(tmp_path):
    out = tmp_path / "prompts.json"
    assert ps.main(["prompts", "--tasks", "arithmetic", "--limit", "2", "--prompts-out", str(out)]) == 0
    document = json.loads(out.read_text())
    assert [len(t["prompts"]) for t in document["tasks"]] == [2]
    assert document["sha256"] == ps.prompts_sha256(document)


def test_estimators_are_the_parity_scripts():
    pp = _load_script("polygraph_parity", ROOT / "scripts" / "polygraph_parity.py")
    assert list(ps.ESTIMATORS) == [(p.estimator, p.kwargs) for p in pp.PAIRS]


def test_polygraph_batch_size():
    budget = 12 * 2**30
    assert ps.polygraph_batch_size(50, 44, 8, 5, **SMOLLM2, budget_bytes=budget) == 50  # arithmetic: whole task
    gsm8k = ps.polygraph_batch_size(50, 1415, 160, 5, **SMOLLM2, budget_bytes=budget)
    assert 1 < gsm8k < 50
    per_prompt = budget / gsm8k
    assert ps.polygraph_batch_size(50, 1415, 160, 5, **SMOLLM2, budget_bytes=2 * budget) >= 2 * gsm8k - 1
    assert per_prompt > 0.5 * 2**30  # hidden states of 31 layers over ~1.6k positions, 5 samples
    assert ps.polygraph_batch_size(50, 1415, 160, 5, **SMOLLM2, budget_bytes=1) == 1
    assert ps.polygraph_batch_size(3, 44, 8, 5, **SMOLLM2, budget_bytes=budget) == 3


def test_rows_tokens_counts_to_the_first_end():
    torch = pytest.importorskip("torch")
    sequences = torch.tensor([[9, 9, 5, 6, 2, 2], [0, 9, 5, 6, 7, 8], [9, 9, 2, 2, 2, 2]])
    assert ps._rows_tokens(sequences, 2, [2]) == (3, 3 + 4 + 1)
    assert ps._rows_tokens(sequences, 2, []) == (3, 12)
    assert ps._rows_tokens(sequences[:, :2], 2, [2]) == (3, 0)


def test_call_timer_and_by_task():
    timer = ps.CallTimer(lambda xs, task: [x * 2 for x in xs],
                         lambda args, kwargs, out: {"task": kwargs["task"], "rows": len(out), "tokens": sum(out)})
    assert timer([1, 2], task="a") == [2, 4]
    timer([3], task="b")
    timer([4], task="a")
    assert [c["task"] for c in timer.calls] == ["a", "b", "a"]
    assert timer.seconds == pytest.approx(sum(c["seconds"] for c in timer.calls))
    totals = ps.by_task(timer.calls)
    assert {k: (v["calls"], v["rows"], v["tokens"]) for k, v in totals.items()} == {"a": (2, 3, 14), "b": (1, 1, 6)}


def test_command_line(monkeypatch):
    monkeypatch.setenv("BENCH_DATA_DIR", "/data dir")
    monkeypatch.delenv("BENCH_CACHE_DIR", raising=False)
    line = ps.command_line(["ours", "--limit", "2"])
    assert line.startswith("BENCH_DATA_DIR='/data dir' ")
    assert line.endswith("scripts/polygraph_speed.py ours --limit 2")


# --- report -------------------------------------------------------------------------------------


def fake(side: str, run: float, generation: float, load: float = 2.0, **changes) -> dict:
    host = {"cpu": "Test CPU", "cpu_count": 2, "mem_total_gb": 23.5, "loadavg": [0.1, 0.1, 0.1], "others_busy": 0.01}
    document = {
        "format": ps.RESULT_FORMAT, "side": side, "command": f"python scripts/polygraph_speed.py {side} --x",
        "model_dir": "/models/smollm2", "prompts_sha256": "ab" * 32, "prompts_file": "results/peers/polygraph/speed_prompts.json",
        "n_questions": 100, "n_generations": 600,
        "seconds": {"total": load + run, "model_load": load, "run": run, "generation": generation, "run_cpu": 2 * run},
        "generation_calls": 12 if side == "ours" else 30, "generated_tokens": 30000, "threads": {"torch_threads": 2},
        "peak_rss_gb": 3.5, "host": host,
        "per_task": {"arithmetic": {"seconds": generation / 10, "calls": 2, "rows": 300, "tokens": 2000},
                     "gsm8k": {"seconds": 9 * generation / 10, "calls": 10, "rows": 300, "tokens": 28000}},
    }
    if side == "ours":
        document.update(generated=600, model="HuggingFaceTB/SmolLM2-135M-Instruct", sweep_file="bench/sweeps/polygraph-parity.yaml",
                        versions={"entropy-bench": "0.1.0", "torch": "2.13.0+cpu", "transformers": "5.24.0"},
                        tasks=[{"name": "arithmetic", "n_questions": 50, "n_samples": 5, "batch_size": 48},
                               {"name": "gsm8k", "n_questions": 50, "n_samples": 5, "batch_size": 48}])
    else:
        document.update(versions={"lm-polygraph": "0.7.0", "torch": "2.13.0+cpu", "transformers": "5.24.0"},
                        settings={"samples_n": [5]},
                        tasks=[{"name": "arithmetic", "batch_size": 50, "seconds": {"manager": run / 10}},
                               {"name": "gsm8k", "batch_size": 13, "seconds": {"manager": 9 * run / 10}}])
    document.update(changes)
    return document


def _report(tmp_path, ours: dict, theirs: dict) -> tuple[int, str]:
    (tmp_path / "o.json").write_text(json.dumps(ours))
    (tmp_path / "t.json").write_text(json.dumps(theirs))
    rc = ps.main(["report", "--ours", str(tmp_path / "o.json"), "--theirs", str(tmp_path / "t.json"),
                  "--out", str(tmp_path / "speed.md")])
    return rc, (tmp_path / "speed.md").read_text()


def test_report_pass(tmp_path):
    rc, md = _report(tmp_path, fake("ours", run=100.0, generation=60.0), fake("theirs", run=350.0, generation=300.0))
    assert rc == 0
    assert "**PASS**" in md and "**3.50×**" in md
    assert "| ours (entropy-bench) | 102.0 | 2.0 | — | 100.0 | 60.0 | 60 % | 200.0 | 100 | 600 | 6.00 |" in md
    assert "| LM-Polygraph 0.7.0 | 352.0 | 2.0 | — | 350.0 | 300.0 | 86 % | 700.0 | 100 | 600 | 1.71 |" in md
    assert "| **theirs / ours** | **3.45×** |" in md  # with model loading
    assert "| gsm8k | LM-Polygraph | 13 prompts | 270.0 | 10 | 300 | 28000 | 315.0 |" in md
    assert "| gsm8k | ours | 48 answers, 9 prompts × 5 samples | 54.0 |" in md
    assert "lm-polygraph 0.7.0" in md and "entropy-bench 0.1.0" in md and "torch threads 2" in md
    for side in ("ours", "theirs"):
        assert f"python scripts/polygraph_speed.py {side} --x" in md
    assert "scripts/polygraph_speed.py report --ours" in md
    assert "Warnings" not in md
    assert "one `generate` call per sample" in md and "min_new_tokens=2" in md


def test_report_fail_and_warnings(tmp_path):
    ours = fake("ours", run=100.0, generation=60.0)
    theirs = fake("theirs", run=200.0, generation=180.0, prompts_sha256="cd" * 32, n_generations=500,
                  threads={"torch_threads": 1})
    theirs["host"] = {**theirs["host"], "others_busy": 0.6}
    rc, md = _report(tmp_path, ours, theirs)
    assert rc == 1
    assert "**FAIL**" in md and "**2.00×**" in md
    assert "not generate from the same prompts" in md
    assert "different work" in md and "different torch thread counts" in md
    assert "theirs: other processes kept 60 % of the CPUs busy" in md


def test_report_rejects_a_wrong_file(tmp_path):
    with pytest.raises(SystemExit, match="not a polygraph-speed/1 file of side 'theirs'"):
        _report(tmp_path, fake("ours", 1.0, 1.0), fake("ours", 1.0, 1.0))


def test_report_needs_the_standard_library_only(tmp_path):
    (tmp_path / "o.json").write_text(json.dumps(fake("ours", run=10.0, generation=5.0)))
    (tmp_path / "t.json").write_text(json.dumps(fake("theirs", run=40.0, generation=35.0)))
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('s', {str(SCRIPT)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        f"rc = m.main(['report', '--ours', {str(tmp_path / 'o.json')!r}, '--theirs', {str(tmp_path / 't.json')!r},"
        f" '--out', {str(tmp_path / 'speed.md')!r}])\n"
        "heavy = sorted(k for k in sys.modules if k.split('.')[0] in ('torch', 'numpy', 'entropy_bench', 'lm_polygraph'))\n"
        "assert not heavy, heavy\n"
        "sys.exit(rc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "**PASS**" in (tmp_path / "speed.md").read_text()


# --- ours on the tiny model; theirs in LM-Polygraph's venv --------------------------------------


@pytest.fixture(scope="module")
def ours_run(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("speed")
    here = os.getcwd()
    argv = ["ours", "--model-dir", str(tiny_model_dir), "--tasks", "arithmetic", "--limit", "2",
            "--out", str(out / "ours.json"), "--prompts-out", str(out / "prompts.json")]
    assert ps.main(argv) == 0
    assert os.getcwd() == here
    return out


def test_ours_on_the_tiny_model(ours_run, tiny_model_dir):
    document = json.loads((ours_run / "ours.json").read_text())
    prompts = json.loads((ours_run / "prompts.json").read_text())
    assert document["format"] == ps.RESULT_FORMAT and document["side"] == "ours"
    assert (document["n_questions"], document["n_generations"], document["generated"]) == (2, 12, 12)
    assert Path(document["model_dir"]) == Path(tiny_model_dir).resolve()
    s = document["seconds"]
    assert 0 < s["generation"] < s["run"] < s["total"]
    assert s["total"] == pytest.approx(s["model_load"] + s["store_setup"] + s["run"]) and s["store_setup"] > 0
    # one call for the 2 answers, one for the 2 × 5 samples (shared prefill)
    assert [(c["task"], c["prompts"], c["n_per_prompt"], c["rows"]) for c in document["calls"]] == \
        [("arithmetic", 2, 1, 2), ("arithmetic", 2, 5, 10)]
    assert document["per_task"]["arithmetic"]["rows"] == 12
    assert document["threads"]["torch_threads"] >= 1 and document["versions"]["entropy-bench"]
    assert document["prompts_sha256"] == prompts["sha256"] == ps.prompts_sha256(prompts)
    assert [len(t["prompts"]) for t in prompts["tasks"]] == [2]
    assert "--model-dir" in document["command"] and "scripts/polygraph_speed.py ours" in document["command"]


def test_theirs_in_lm_polygraph_venv(ours_run, tiny_model_dir, tmp_path):
    """``theirs`` on the tiny model, in LM-Polygraph's venv (``POLYGRAPH_PYTHON``); skipped without it."""
    python = os.environ.get("POLYGRAPH_PYTHON")
    if not python:
        pytest.skip("POLYGRAPH_PYTHON is not set to LM-Polygraph's venv python")
    out = tmp_path / "theirs.json"
    done = subprocess.run([python, str(SCRIPT), "theirs", "--model-dir", str(tiny_model_dir),
                           "--prompts", str(ours_run / "prompts.json"), "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    theirs = json.loads(out.read_text())
    assert (theirs["n_questions"], theirs["n_generations"]) == (2, 12)
    (task,) = theirs["tasks"]
    assert task["generate_calls"] == 6  # one greedy call, then one per sample
    assert len(task["estimators"]) == 9
    assert all(v["n"] == 2 for v in theirs["estimates"].values()) and len(theirs["estimates"]) == 9
    assert theirs["prompts_sha256"] == json.loads((ours_run / "ours.json").read_text())["prompts_sha256"]
    assert ps.main(["report", "--ours", str(ours_run / "ours.json"), "--theirs", str(out),
                    "--out", str(tmp_path / "speed.md")]) in (0, 1)

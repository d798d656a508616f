"""scripts/polygraph_parity.py without a model: the JSON built from hand-made ``Generation``
records, the stats dict and the convention mappings, against LM-Polygraph 0.7.0's formulas
(copied below as independent references: CI has no LM-Polygraph); the real estimators only where
``lm_polygraph`` is installed (its own venv, ``scripts/polygraph-venv.sh``)."""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy.linalg import eigh

from entropy_bench import sweep
from entropy_bench.methods.records import Generation

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "polygraph_parity.py"
EOS = 2


def _load_script():
    spec = importlib.util.spec_from_file_location("polygraph_parity", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pp = _load_script()


def gen(text: str, ids: list[int], logprob: list[float], finish: str = "eos") -> Generation:
    entropy = [0.5 + 0.25 * t for t in range(len(ids))]
    return Generation(text=text, token_ids=ids, logprob=logprob, entropy=entropy, warped_logprob=logprob,
                      warped_entropy=entropy, top_ids=[[i] for i in ids], top_logprobs=[[x] for x in logprob],
                      finish_reason=finish)


# two examples: one with an EOS-only sample (dropped by LM-Polygraph), one without; samples
# ending with EOS, at the length limit and at a stop string
EXAMPLES = [{"id": 0}, {"id": "b"}]
ANSWERS = [gen("7", [33, EOS], [-0.2, -0.05]), gen("12 apples", [49, 50, 51], [-1.1, -0.4, -2.0], "length")]
SAMPLES = [
    [gen("7", [33, EOS], [-0.2, -0.1]), gen("8", [34, EOS], [-1.9, -0.3]), gen("", [EOS], [-3.2]),
     gen("7 apples", [33, 90, EOS], [-0.2, -2.5, -0.7]), gen("7", [33, 11], [-0.2, -1.0], "stop")],
    [gen("12", [49, 50, EOS], [-1.0, -0.5, -0.2]), gen("13 Apples", [49, 51, 52, EOS], [-1.0, -1.3, -0.6, -0.1]),
     gen("twelve or 12", [60, 61, 49, 50], [-3.0, -2.0, -0.7, -0.4], "length"),
     gen("12", [49, 50, EOS], [-1.0, -0.5, -0.25]), gen("1 2", [49, 62, 50], [-1.0, -4.0, -0.9], "length")],
]


@pytest.fixture(scope="module")
def cell():
    cells = sweep.expand(sweep.load(ROOT / "bench" / "sweeps" / "polygraph-parity.yaml"))
    return next(c for c in cells if c.task_run.task.name == "arithmetic")


@pytest.fixture(scope="module")
def task_json(cell):
    logged = pp._our_scores(cell, EXAMPLES, ANSWERS, SAMPLES)  # what per_example.csv would hold
    return json.loads(json.dumps(pp.cell_json(cell, EXAMPLES, ANSWERS, SAMPLES, logged, "fp", {EOS})))


# --- LM-Polygraph 0.7.0's formulas (estimators/*.py), as references -------------------------------

def jaccard_matrix(texts):  # estimators/common.py
    n = len(texts)
    w = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            a, b = set(texts[i].lower().split()), set(texts[j].lower().split())
            w[i, j] = w[j, i] = len(a & b) / len(a | b) if a | b else 0
    return w


def laplacian(w):
    d_inv_sqrt = np.linalg.inv(np.sqrt(np.diag(w.sum(axis=1))))
    return np.eye(len(w)) - d_inv_sqrt @ w @ d_inv_sqrt


def rouge_l_similarity(texts):
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return -np.mean([scorer.score(texts[i], texts[j])["rougeL"].fmeasure
                     for i in range(len(texts)) for j in range(i + 1, len(texts))])


def eccentricity(w, thres=0.9):
    lam, vec = eigh(laplacian(w))
    kept = vec[:, lam < thres].T
    return np.linalg.norm(-np.asarray([np.linalg.norm(x - x.mean(0), 2) for x in kept]), 2)


REFERENCE = {
    "MaximumSequenceProbability": lambda s: [-np.sum(x) for x in s["greedy_log_likelihoods"]],
    "Perplexity": lambda s: [-np.mean(x) for x in s["greedy_log_likelihoods"]],
    "MeanTokenEntropy": lambda s: [np.mean(x) for x in s["entropy"]],
    "MonteCarloSequenceEntropy": lambda s: [-np.mean(lp) for lp in s["sample_log_probs"]],
    "MonteCarloNormalizedSequenceEntropy": lambda s: [
        -np.mean([a / len(t) for a, t in zip(lp, ts) if len(t)]) for lp, ts in zip(s["sample_log_probs"], s["sample_tokens"])],
    "LexicalSimilarity": lambda s: [rouge_l_similarity(t) for t in s["sample_texts"]],
    "EigValLaplacian": lambda s: [sum(max(0, 1 - x) for x in eigh(laplacian(jaccard_matrix(t)), eigvals_only=True))
                                  for t in s["sample_texts"]],
    "DegMat": lambda s: [np.trace(len(t) - np.diag(jaccard_matrix(t).sum(1))) / len(t) ** 2 for t in s["sample_texts"]],
    "Eccentricity": lambda s: [eccentricity(jaccard_matrix(t)) for t in s["sample_texts"]],
}


class ReferenceEstimator:
    def __init__(self, pair):
        self.pair = pair

    def __call__(self, stats):
        return np.array(REFERENCE[self.pair.estimator](stats), dtype=float)


# --- tests --------------------------------------------------------------------------------------

def test_the_sweep_has_every_measure_the_script_compares(cell):
    assert {p.measure for p in pp.PAIRS} == {m.id for m in cell.measures}
    assert cell.n_samples == 5 and cell.decoder.id == "greedy" and cell.sample_decoder.id == "temperature(temperature=1.0)"


def test_json_of_hand_made_generations(task_json):
    assert [e["id"] for e in task_json["examples"]] == ["0", "b"]
    assert task_json["eos_token_ids"] == [EOS] and task_json["n_samples"] == 5
    first = task_json["examples"][0]
    assert first["answer"] == {"text": "7", "token_ids": [33, EOS], "logprob": [-0.2, -0.05], "entropy": [0.5, 0.75],
                               "finish_reason": "eos"}
    assert first["samples"][2] == {"text": "", "token_ids": [EOS], "logprob": [-3.2], "finish_reason": "eos"}
    assert all(set(s) == {"text", "token_ids", "logprob", "finish_reason"} for s in first["samples"])  # compact
    assert set(first["scores"]) == set(first["scores_polygraph"]) == {p.measure for p in pp.PAIRS}
    # the answer's measures need no mapping; the samples' ones differ where a sample is EOS-only
    for key in ("max_sequence_prob", "perplexity", "mean_token_entropy"):
        assert first["scores"][key] == first["scores_polygraph"][key]
    assert first["scores"]["predictive_entropy(normalize=False)"] == pytest.approx((0.3 + 2.2 + 3.2 + 3.4 + 1.2) / 5)
    assert first["scores_polygraph"]["predictive_entropy(normalize=False)"] == pytest.approx((0.3 + 2.2 + 3.4 + 1.2) / 4)
    # LM-Polygraph: total log-prob with EOS over the length without it
    assert first["scores_polygraph"]["predictive_entropy(normalize=True)"] == pytest.approx(
        (0.3 / 1 + 2.2 / 1 + 3.4 / 2 + 1.2 / 2) / 4)
    assert first["scores"]["predictive_entropy(normalize=True)"] == pytest.approx(
        (0.3 / 2 + 2.2 / 2 + 3.2 / 1 + 3.4 / 3 + 1.2 / 2) / 5)


def test_fold_eos_and_polygraph_sample():
    assert pp.fold_eos([-1.0, -2.0, -0.5], eos=True) == [-1.0, -2.5]
    assert pp.fold_eos([-1.0, -2.0], eos=False) == [-1.0, -2.0]
    assert pp.fold_eos([-3.0], eos=True) is None
    sample = {"text": "7 apples", "token_ids": [33, 90, EOS], "logprob": [-0.2, -2.5, -0.7], "finish_reason": "eos"}
    assert pp.polygraph_sample(sample) == {"text": "7 apples", "tokens": [33, 90], "log_prob": pytest.approx(-3.4),
                                           "log_likelihoods": [-0.2, -2.5]}
    assert pp.polygraph_sample({**sample, "token_ids": [EOS], "logprob": [-1.0]}) is None
    kept = pp.polygraph_convention_samples(SAMPLES[0], fold=True)
    assert [s.token_ids for s in kept] == [[33], [34], [33, 90], [33, 11]]
    assert [sum(s.logprob) for s in kept] == pytest.approx([-0.3, -2.2, -3.4, -1.2])


def test_stats_dict_keys_and_conventions(task_json):
    examples = task_json["examples"]
    theirs, ours = pp.polygraph_stats(examples, "polygraph"), pp.polygraph_stats(examples, "ours")
    for stats in (theirs, ours):
        assert {"greedy_log_likelihoods", "entropy", "greedy_tokens", "greedy_texts", "sample_texts", "sample_tokens",
                "sample_log_probs", "sample_log_likelihoods"} <= set(stats)
        assert all(len(v) == 2 for v in stats.values())
        np.testing.assert_array_equal(stats["greedy_log_likelihoods"][0], [-0.2, -0.05])  # EOS included
    assert theirs["sample_texts"][0] == ["7", "8", "7 apples", "7"]  # the EOS-only sample dropped
    assert theirs["sample_tokens"][0] == [[33], [34], [33, 90], [33, 11]]  # EOS left out of the length
    assert theirs["sample_log_probs"][0] == pytest.approx([-0.3, -2.2, -3.4, -1.2])  # but in the total
    assert len(ours["sample_texts"][0]) == 5 and ours["sample_tokens"][0][0] == [33, EOS]
    assert pp.mapped_examples(examples, pp.PAIRS[3]) == 1  # MC entropy: the EOS-only sample
    assert pp.mapped_examples(examples, pp.PAIRS[4]) == 2  # normalised: any sample ending with EOS
    assert pp.mapped_examples(examples, pp.PAIRS[0]) == 0


def test_mapped_scores_equal_lm_polygraph_formulas(task_json):
    rows = pp.compare_task("arithmetic", task_json["examples"], make=ReferenceEstimator)
    assert len(rows) == 3 + 2 * 6
    assert all(r["result"] == "PASS" for r in rows), [(r["estimator"], r["convention"], r["max_abs_diff"]) for r in rows]
    assert max(r["max_abs_diff"] for r in rows) < 1e-12
    # and without the mapping the sample-based ones would fail: the mapping is what makes them agree
    unmapped = [{**e, "scores_polygraph": e["scores"]} for e in task_json["examples"]]
    failed = {r["estimator"] for r in pp.compare_task("arithmetic", unmapped, make=ReferenceEstimator)
              if r["result"] == "FAIL"}
    assert failed == {p.label for p in pp.PAIRS if p.samples}


def test_max_abs_diff_nan_rules():
    assert pp.max_abs_diff([1.0, None], [1.5, np.nan]) == 0.5
    assert pp.max_abs_diff([1.0], [np.nan]) == np.inf
    with pytest.raises(ValueError):
        pp.max_abs_diff([1.0], [1.0, 2.0])


def test_report_renders(task_json):
    rows = pp.compare_task("arithmetic", task_json["examples"], make=ReferenceEstimator)
    document = {"format": pp.FORMAT, "sweep": "polygraph-parity", "tasks": {"arithmetic": task_json}}
    md = pp.render_markdown(rows, document, {"lm-polygraph": "0.7.0", "torch": "x"}, "generations.json")
    assert "| arithmetic | `MonteCarloNormalizedSequenceEntropy()` |" in md and "## Conventions" in md
    assert pp.render_csv(rows).splitlines()[0] == ",".join(pp.CSV_COLUMNS)


def test_compare_with_lm_polygraph(task_json, tmp_path):
    pytest.importorskip("lm_polygraph")
    path = tmp_path / "generations.json"
    path.write_text(json.dumps({"format": pp.FORMAT, "sweep": "t", "tasks": {"arithmetic": task_json}}))
    rows = pp.compare(argparse.Namespace(generations=str(path), out_dir=str(tmp_path)))
    assert all(r["result"] == "PASS" for r in rows)
    assert (tmp_path / "parity.md").exists() and (tmp_path / "parity.csv").exists()


def test_compare_in_lm_polygraph_venv(task_json, tmp_path):
    """The compare step as it is run: in LM-Polygraph's own venv, named by ``$POLYGRAPH_PYTHON``
    (e.g. ``.polygraph-venv/bin/python`` from ``scripts/polygraph-venv.sh``); skipped without it."""
    python = os.environ.get("POLYGRAPH_PYTHON")
    if not python or not Path(python).exists():
        pytest.skip("POLYGRAPH_PYTHON is not set to LM-Polygraph's venv python")
    path = tmp_path / "generations.json"
    path.write_text(json.dumps({"format": pp.FORMAT, "sweep": "t", "tasks": {"arithmetic": task_json}}))
    done = subprocess.run([python, str(SCRIPT), "compare", "--generations", str(path), "--out-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = list(csv.DictReader((tmp_path / "parity.csv").open()))
    assert len(rows) == 15 and all(r["result"] == "PASS" for r in rows)
    assert "lm-polygraph 0.7.0" in (tmp_path / "parity.md").read_text()

"""Comparison tables: per-example rows → summary with cluster-bootstrap CIs → rendered table.

Every expected value is computed here independently: point values by hand or with scikit-learn,
CIs with a re-implementation of the cluster bootstrap (sorted unique ids drawn with
``default_rng(seed).integers(0, n_clusters, size=(n_resamples, n_clusters))``, all rows of a
drawn id kept, NaN resamples dropped, 2.5 / 97.5 percentiles).
"""

from __future__ import annotations

import io
import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from entropy_bench.metrics.bootstrap import bootstrap_ci, resample_indices
from entropy_bench.metrics.uq import auroc
from entropy_bench.tables import compact_id, render, short_labels, summarise, terminal_view

MODEL, TASK = "tiny-lm", "arithmetic(digits=1)"
GREEDY, TEMP = "greedy", "temperature(temperature=0.7)"
N_RESAMPLES, SEED = 200, 7


def examples() -> pd.DataFrame:
    """Greedy: one seed, 6 examples. Temperature: two seeds of 5 examples, rows interleaved."""
    rows = [
        # decoder, seed, id, correct, uq:msp, uq:mte, mean_entropy
        (GREEDY, 0, "q3", 1, 0.10, 0.5, 0.20),
        (GREEDY, 0, "q1", 0, 0.90, 0.5, 1.10),
        (GREEDY, 0, "q2", 1, 0.20, 0.9, 0.40),
        (GREEDY, 0, "q6", 1, 0.30, 0.1, 0.30),
        (GREEDY, 0, "q5", 0, 0.25, 0.7, 0.90),
        (GREEDY, 0, "q4", 1, 0.15, 0.2, 0.10),
        (TEMP, 1, "q2", 0, 0.70, 0.4, 1.50),
        (TEMP, 0, "q1", 1, 0.20, 0.3, 0.60),
        (TEMP, 0, "q2", 1, 0.40, 0.6, 0.80),
        (TEMP, 1, "q1", 0, 0.60, 0.6, 1.20),
        (TEMP, 0, "q3", 0, 0.50, 0.2, 1.00),
        (TEMP, 1, "q3", 1, 0.30, 0.8, 0.70),
        (TEMP, 0, "q4", 1, 0.10, 0.1, 0.20),
        (TEMP, 1, "q4", 1, 0.20, 0.3, 0.30),
        (TEMP, 0, "q5", 0, 0.80, 0.5, 1.40),
        (TEMP, 1, "q5", 1, 0.35, 0.5, 0.50),
    ]
    df = pd.DataFrame(rows, columns=["decoder", "seed", "id", "correct", "uq:msp", "uq:mte", "mean_entropy"])
    df.insert(0, "task", TASK)
    df.insert(0, "model", MODEL)
    return df


# --- independent references -----------------------------------------------------------------


def ref_auroc(scores, correct) -> float:
    errors = 1 - np.asarray(correct)
    if errors.min() == errors.max():
        return float("nan")
    return float(roc_auc_score(errors, scores))


def ref_cluster_ci(statistic, arrays, ids, n_resamples=N_RESAMPLES, seed=SEED):
    unique = sorted(set(ids))
    rows_of = {u: [i for i, x in enumerate(ids) if x == u] for u in unique}
    draws = np.random.default_rng(seed).integers(0, len(unique), size=(n_resamples, len(unique)))
    values = []
    for draw in draws:
        rows = [i for k in draw for i in rows_of[unique[k]]]
        value = statistic(*(np.asarray(a)[rows] for a in arrays))
        if not np.isnan(value):
            values.append(value)
    low, high = np.percentile(values, [2.5, 97.5])
    return low, high


# --- summarise -------------------------------------------------------------------------------


def test_paired_delta_against_greedy_by_hand():
    summary = summarise(examples(), n_resamples=N_RESAMPLES, seed=SEED).set_index("decoder")
    # temperature's accuracy per example, averaged over its two seeds, minus greedy's
    deltas = {"q1": 0.5 - 0, "q2": 0.5 - 1, "q3": 0.5 - 1, "q4": 1 - 1, "q5": 0.5 - 0}
    col = "Δ accuracy vs greedy"
    assert summary.loc[TEMP, col] == pytest.approx(np.mean(list(deltas.values())))
    low, high = ref_cluster_ci(np.mean, [np.array(list(deltas.values()))], list(deltas))
    assert (summary.loc[TEMP, f"{col}_ci_low"], summary.loc[TEMP, f"{col}_ci_high"]) == pytest.approx((low, high))
    assert np.isnan(summary.loc[GREEDY, col])  # the reference has no delta to itself
    shown = render(summarise(examples(), n_resamples=N_RESAMPLES, seed=SEED), "md")
    assert f"+0.000 [{low:+.3f}, {high:+.3f}] ns |" in shown  # the CI holds 0: not significant


@pytest.fixture(scope="module")
def summary() -> pd.DataFrame:
    return summarise(examples(), n_resamples=N_RESAMPLES, seed=SEED)


def test_point_values_by_hand(summary):
    s = summary.set_index("decoder")
    assert list(s.index) == [GREEDY, TEMP]  # sorted rows
    assert s.loc[GREEDY, "n"] == 6 and s.loc[GREEDY, "seeds"] == 1
    assert s.loc[TEMP, "n"] == 5 and s.loc[TEMP, "seeds"] == 2
    assert s.loc[GREEDY, "accuracy"] == pytest.approx(4 / 6)
    assert s.loc[TEMP, "accuracy"] == pytest.approx(6 / 10)
    # greedy errors q1 (0.90), q5 (0.25) vs right answers 0.10, 0.20, 0.30, 0.15:
    # 0.90 beats all 4, 0.25 beats 3 of 4 → 7 / 8
    assert s.loc[GREEDY, "AUROC msp"] == pytest.approx(7 / 8)
    # mte: errors 0.5, 0.7 vs right 0.5, 0.9, 0.1, 0.2 → 0.5: 2 + ½ (tie), 0.7: 3 → 5.5 / 8
    assert s.loc[GREEDY, "AUROC mte"] == pytest.approx(5.5 / 8)
    # temperature, pooled over seeds: errors 0.70, 0.60, 0.50, 0.80 vs right 0.20, 0.40, 0.30, 0.10, 0.20, 0.35
    assert s.loc[TEMP, "AUROC msp"] == pytest.approx(1.0)
    assert s.loc[GREEDY, "mean entropy"] == pytest.approx((0.2 + 1.1 + 0.4 + 0.3 + 0.9 + 0.1) / 6)
    assert s.loc[TEMP, "mean entropy"] == pytest.approx(np.mean([1.5, 0.6, 0.8, 1.2, 1.0, 0.7, 0.2, 0.3, 1.4, 0.5]))


def test_every_value_and_ci_matches_an_independent_computation(summary):
    df = examples()
    s = summary
    metrics = ["accuracy", "AUROC msp", "AUROC mte", "mean entropy"]
    expected_columns = ["model", "task", "decoder", "n", "seeds"] + [
        c for m in metrics + ["Δ accuracy vs greedy"] for c in (m, f"{m}_ci_low", f"{m}_ci_high")
    ]
    assert list(s.columns) == expected_columns
    assert len(s) == 2
    for _, row in s.iterrows():
        g = df[df["decoder"] == row["decoder"]]
        ids = list(g["id"])
        correct = g["correct"].to_numpy(float)
        stats = {
            "accuracy": (np.mean, [correct]),
            "AUROC msp": (ref_auroc, [g["uq:msp"].to_numpy(), correct]),
            "AUROC mte": (ref_auroc, [g["uq:mte"].to_numpy(), correct]),
            "mean entropy": (np.mean, [g["mean_entropy"].to_numpy()]),
        }
        for name, (fn, arrays) in stats.items():
            low, high = ref_cluster_ci(fn, arrays, ids)
            assert row[name] == pytest.approx(fn(*arrays), abs=1e-12), name
            assert row[f"{name}_ci_low"] == pytest.approx(low, abs=1e-12), name
            assert row[f"{name}_ci_high"] == pytest.approx(high, abs=1e-12), name


def test_summary_does_not_depend_on_row_order_within_a_cluster_set():
    df = examples()
    shuffled = df.sample(frac=1.0, random_state=3).reset_index(drop=True)
    a = summarise(df, n_resamples=30, seed=SEED)
    b = summarise(shuffled, n_resamples=30, seed=SEED)
    # point values are order-free; CIs draw the same clusters (sorted ids), so they agree too
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12)


def test_resampling_whole_examples_not_rows():
    """Two seeds of one example that disagree move together: each resample has even counts."""
    df = examples()
    temp = df[df["decoder"] == TEMP]
    for idx in resample_indices(temp["id"].to_numpy(), 50, seed=1):
        drawn = temp["id"].to_numpy()[idx]
        counts = pd.Series(drawn).value_counts()
        assert (counts % 2 == 0).all()
        assert len(idx) == len(temp)  # 5 clusters of 2 rows each


def test_without_measures_or_entropy_only_accuracy_is_reported():
    df = examples()[["model", "task", "decoder", "seed", "id", "correct"]]
    s = summarise(df, n_resamples=20, seed=0, reference=None)
    assert list(s.columns) == ["model", "task", "decoder", "n", "seeds", "accuracy", "accuracy_ci_low", "accuracy_ci_high"]


def test_one_class_auroc_is_nan():
    df = examples()
    df["correct"] = 1
    s = summarise(df, n_resamples=20, seed=0)
    assert s["AUROC msp"].isna().all() and s["AUROC msp_ci_low"].isna().all()
    assert (s["accuracy"] == 1).all() and (s["accuracy_ci_low"] == 1).all()


# --- metrics ---------------------------------------------------------------------------------


def brute_force_auroc(scores, correct) -> float:
    wrong = [s for s, c in zip(scores, correct) if c == 0]
    right = [s for s, c in zip(scores, correct) if c == 1]
    wins = sum(1.0 if w > r else 0.5 if w == r else 0.0 for w, r in itertools.product(wrong, right))
    return wins / (len(wrong) * len(right))


@pytest.mark.parametrize("seed", range(5))
def test_auroc_is_the_mann_whitney_probability(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 40))
    correct = rng.integers(0, 2, size=n)
    correct[:2] = [0, 1]
    scores = rng.integers(0, 6, size=n).astype(float)  # many ties
    assert auroc(scores, correct) == pytest.approx(brute_force_auroc(scores, correct), abs=1e-12)
    continuous = rng.normal(size=n) + 0.5 * (1 - correct)
    assert auroc(continuous, correct) == pytest.approx(brute_force_auroc(continuous, correct), abs=1e-12)


def test_auroc_direction_higher_score_means_error():
    assert auroc([0.9, 0.1], [0, 1]) == 1.0
    assert auroc([0.1, 0.9], [0, 1]) == 0.0
    assert auroc([0.5, 0.5], [0, 1]) == 0.5


@pytest.mark.parametrize("correct", [[1, 1, 1], [0, 0, 0], [True, True]])
def test_auroc_of_one_class_is_nan(correct):
    assert np.isnan(auroc(np.arange(len(correct)), correct))


def test_bootstrap_ci_of_a_constant_is_the_constant():
    assert bootstrap_ci(np.mean, np.full(30, 2.5), n_resamples=100) == (2.5, 2.5)
    clusters = np.repeat(np.arange(10), 3)
    assert bootstrap_ci(np.mean, np.full(30, -1.0), clusters=clusters, n_resamples=100) == (-1.0, -1.0)


def test_bootstrap_ci_covers_the_true_mean_of_a_large_sample():
    x = np.random.default_rng(0).normal(loc=3.0, scale=2.0, size=4000)
    low, high = bootstrap_ci(np.mean, x, n_resamples=500, seed=1)
    assert low < 3.0 < high
    # width ≈ 2 · 1.96 · σ / √n
    assert high - low == pytest.approx(2 * 1.96 * 2.0 / np.sqrt(4000), rel=0.15)


def test_bootstrap_ci_level_and_seed():
    x = np.random.default_rng(1).normal(size=200)
    wide = bootstrap_ci(np.mean, x, n_resamples=400, level=0.99, seed=0)
    narrow = bootstrap_ci(np.mean, x, n_resamples=400, level=0.5, seed=0)
    assert wide[0] < narrow[0] < narrow[1] < wide[1]
    assert bootstrap_ci(np.mean, x, n_resamples=50, seed=4) == bootstrap_ci(np.mean, x, n_resamples=50, seed=4)


def test_bootstrap_ci_all_nan_resamples_give_nan():
    low, high = bootstrap_ci(lambda a: float("nan"), np.arange(5.0), n_resamples=10)
    assert np.isnan(low) and np.isnan(high)


# --- render ----------------------------------------------------------------------------------


def test_render_csv_is_numeric_with_ci_columns(summary):
    back = pd.read_csv(io.StringIO(render(summary, "csv")))
    assert list(back.columns) == list(summary.columns)
    for col in ("accuracy", "accuracy_ci_low", "accuracy_ci_high", "AUROC msp_ci_high"):
        assert back[col].dtype == float
        np.testing.assert_allclose(back[col], summary[col], rtol=1e-12)


def test_render_markdown_shows_value_and_ci(summary):
    md = render(summary, "md")
    s = summary.set_index("decoder")
    cell = f"{s.loc[GREEDY, 'accuracy']:.3f} [{s.loc[GREEDY, 'accuracy_ci_low']:.3f}, {s.loc[GREEDY, 'accuracy_ci_high']:.3f}]"
    assert cell.startswith("0.667 [")
    assert cell in md
    assert "0.875 [" in md  # greedy AUROC msp = 7/8
    assert "AUROC msp" in md and "accuracy_ci_low" not in md
    assert "model" not in md.splitlines()[0]  # a single model: no model column
    table = md.split("\n\n")[0]  # the test behind the Δ column and the task's full id are listed below
    assert table.count("\n") == len(summary) + 1  # header, rule, one line per row


def test_render_shows_the_model_column_with_several_models(summary):
    two = pd.concat([summary, summary.assign(model="other-lm")], ignore_index=True)
    assert "model" in render(two, "md").splitlines()[0]


def test_render_html_and_latex(summary):
    html = render(summary, "html")
    assert html.lstrip().startswith("<table") and "0.667 [" in html and "<th>AUROC msp</th>" in html
    latex = render(summary, "latex")
    assert "\\begin{tabular}" in latex and "0.667 [" in latex
    assert "temperature(0.7)" in latex


def test_render_missing_value_is_a_dash(summary):
    s = summary.copy()
    s.loc[0, "AUROC msp"] = np.nan
    assert "–" in render(s, "md")


NOTE = ("Δ columns: paired bootstrap over the same examples, 200 resamples, 95 %; "
        "differences whose CI contains 0 are marked ns (not significant)")


@pytest.mark.parametrize("ci, mark", [((0.05, 0.2), ""), ((-0.3, -0.01), ""), ((-0.2, 0.0), " ns"),
                                      ((0.0, 0.3), " ns"), ((-0.1, 0.1), " ns")])
def test_a_delta_whose_ci_holds_zero_is_marked_ns(summary, ci, mark):
    s = summary.copy()
    col = "Δ accuracy vs greedy"
    s.loc[1, [col, f"{col}_ci_low", f"{col}_ci_high"]] = [0.1, *ci]
    row = render(s, "md").splitlines()[3]
    assert row.rstrip(" |").endswith(f"+0.100 [{ci[0]:+.3f}, {ci[1]:+.3f}]{mark}"), row


def test_the_test_behind_the_delta_columns_is_named_under_the_table(summary):
    md = render(summary, "md")
    table, note, tasks = md.split("\n\n")
    assert note == NOTE and tasks.startswith("Tasks:\n")
    assert f"<p>{NOTE}</p>" in render(summary, "html") and f"% {NOTE}\n" in render(summary, "latex")
    assert "Δ columns" not in render(summary, "csv")
    without = summarise(examples(), n_resamples=20, reference=None)
    assert "Δ columns" not in render(without, "md") and "Δ columns" not in render(without, "html")


def test_render_unknown_format(summary):
    with pytest.raises(ValueError, match="unknown table format 'xlsx'"):
        render(summary, "xlsx")


# --- labels ----------------------------------------------------------------------------------------

LONG_ARITHMETIC = "arithmetic(digits=1,n_examples=200,num_fewshot=4,ops=+-,seed=0,steps=1,style=expression)"


def test_task_labels_keep_only_the_parameters_that_vary_among_tasks_of_one_name():
    two_digit = LONG_ARITHMETIC.replace("digits=1", "digits=2")
    labels = short_labels([LONG_ARITHMETIC, two_digit, "gsm8k(num_fewshot=5)", "toy"])
    assert labels == {LONG_ARITHMETIC: "arithmetic(digits=1)", two_digit: "arithmetic(digits=2)",
                      "gsm8k(num_fewshot=5)": "gsm8k", "toy": "toy"}
    # a parameter one id lacks varies too; brackets hide their commas
    assert short_labels(["t(a=1,b=[1,2])", "t(a=1)"]) == {"t(a=1,b=[1,2])": "t(b=[1,2])", "t(a=1)": "t"}


def test_decoder_labels_show_a_parameter_named_like_its_method_by_value():
    assert compact_id("temperature(temperature=0.7)+top_p(top_p=0.9)") == "temperature(0.7)+top_p(0.9)"
    assert compact_id("top_h(top_h=0.4,top_k=100)") == "top_h(0.4,top_k=100)"
    assert compact_id("greedy") == "greedy" and compact_id("top_n_sigma(n=1.0)") == "top_n_sigma(n=1.0)"


def test_rendered_tables_label_tasks_shortly_and_list_the_full_ids(summary):
    long = summary.assign(task=LONG_ARITHMETIC)
    md = render(long, "md")
    table, notes = md.split("\n\nTasks:\n")
    assert LONG_ARITHMETIC not in table and "| arithmetic " in table
    assert notes == f"- `arithmetic` = `{LONG_ARITHMETIC}`"
    assert LONG_ARITHMETIC in render(long, "html") and f"% `arithmetic` = `{LONG_ARITHMETIC}`" in render(long, "latex")
    assert LONG_ARITHMETIC in render(long, "csv")  # the numbers file keeps the ids


def test_the_terminal_view_leaves_out_the_entropies_and_says_so(summary):
    shown, left_out = terminal_view(summary)
    assert left_out == ["mean entropy"] and not any("entropy" in c for c in shown.columns)
    assert list(shown.columns) == [c for c in summary.columns if "entropy" not in c]


def test_the_default_sweeps_terminal_table_fits_160_columns():
    """Per-example rows with the default sweep's own ids (its plan: tasks, decoders, measures),
    widest values (negative Δ, CIs of three decimals), rendered as ``bench run`` prints them."""
    from entropy_bench import sweep

    cells = sweep.plan(sweep.load("default")).cells
    rng = np.random.default_rng(0)
    rows = [{"model": c.model, "task": c.task_run.task.id, "decoder": c.decoder.id, "seed": 0, "id": f"q{i}",
             "correct": int(rng.integers(0, 2)), "mean_entropy": 1.5, "mean_warped_entropy": 1.2,
             **{f"uq:{m.id}": rng.random() for m in c.measures}} for c in cells for i in range(20)]
    shown, _ = terminal_view(summarise(pd.DataFrame(rows), n_resamples=50))
    text = render(shown, "md")
    assert max(len(line) for line in text.splitlines()) <= 160, text


def test_per_example_text_columns_stay_strings(tmp_path):
    from entropy_bench.tables import read_per_example

    path = tmp_path / "per_example.csv"
    path.write_text("id,correct,uq:m,text,extracted,target,group:level\n"
                    "a,1.0,0.5,12,007,12,3\n"
                    "b,0.0,,,[invalid],1.5,\n")
    frame = read_per_example(path)
    assert frame["extracted"].tolist() == ["007", "[invalid]"] and frame["target"].tolist() == ["12", "1.5"]
    assert frame["text"].tolist() == ["12", ""] and frame["group:level"].tolist() == ["3", ""]
    assert frame["correct"].tolist() == [1.0, 0.0] and frame["uq:m"].isna().tolist() == [False, True]

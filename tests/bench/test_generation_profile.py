"""``bench profile generation``: the time split adds up to the wall time, the token count is the
generations', a profiled run generates exactly what an unprofiled one does, and bad input exits 2."""

import pandas as pd
from typer.testing import CliRunner

from entropy_bench.cli import app
from entropy_bench.clock import SectionClock
from entropy_bench.generation import generate
from entropy_bench.methods.registry import DECODERS
from entropy_bench.models.hf import load_model
from entropy_bench.studies.generation_profile import SECTIONS, run_generation_profile

runner = CliRunner()


def test_clock_sums_sections_and_changes_no_generation(tiny_model_dir):
    lm, dec = load_model(str(tiny_model_dir)), DECODERS.build("temperature", temperature=1.0)
    prompts = ["1 + 2 =", "Tom has"]
    clock = SectionClock()
    timed = generate(lm, prompts, dec, seeds=[1, 2, 3, 4], max_new_tokens=6, stop=["e"], n_per_prompt=2, clock=clock)
    plain = generate(lm, prompts, dec, seeds=[1, 2, 3, 4], max_new_tokens=6, stop=["e"], n_per_prompt=2)
    assert [g.to_dict() for g in timed] == [g.to_dict() for g in plain]
    assert {"prefill", "decoder", "statistics", "records"} <= set(clock.seconds)
    assert all(v > 0 for v in clock.seconds.values())


def test_profile_table_adds_up(tiny_model_dir, tmp_path):
    table = run_generation_profile(model=str(tiny_model_dir), task="arithmetic", limit=6, decoder="greedy",
                                   batch_sizes=[2, 4], n_samples=1, max_new_tokens=5, threads=1, out_dir=tmp_path)
    assert list(table["batch_size"]) == [2, 4] and (tmp_path / "profile.md").is_file()
    written = pd.read_csv(tmp_path / "profile.csv")
    for _, r in written.iterrows():
        parts = sum(r[f"{s}_s"] for s in SECTIONS)
        assert 0 < parts <= r["wall_s"] and abs(parts + r["other_s"] - r["wall_s"]) < 1e-9
        assert 6 <= r["tokens"] <= 6 * 5 and abs(r["tokens_per_s"] - r["tokens"] / r["wall_s"]) < 1e-6


def test_bad_profile_input_exits_2(tiny_model_dir, tmp_path):
    out = tmp_path / "out"
    for args, message in ((["generations"], "did you mean 'generation'"),
                          (["generation", "--decoder", "gredy"], "did you mean 'greedy'"),
                          (["generation", "--task", "gsm8kk"], "did you mean 'gsm8k'"),
                          (["generation", "--batch-size", "0"], "--batch-size")):
        result = runner.invoke(app, ["profile", *args, "--model", str(tiny_model_dir), "--out-dir", str(out)])
        assert result.exit_code == 2 and message in result.output, (args, result.output)
    assert not out.exists()

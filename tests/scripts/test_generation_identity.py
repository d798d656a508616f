"""scripts/generation_identity.py: equal caches pass, a changed token, text or a missing record fails."""

import importlib.util
from pathlib import Path

from entropy_bench.cache import Cache

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "generation_identity.py"


def load():
    spec = importlib.util.spec_from_file_location("generation_identity", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def record(text="12", tokens=(5, 6), shift=0.0):
    return dict(text=text, token_ids=list(tokens), finish_reason="stop", logprob=[-0.1 + shift, -0.2],
                entropy=[1.0, 2.0], warped_logprob=[0.0, 0.0], warped_entropy=[0.0, 0.0],
                top_logprobs=[[-0.1, -3.0], [-0.2, -2.0]], seconds=1.0)


def test_identity_report(tmp_path):
    script = load()
    before, after = Cache(tmp_path / "a"), Cache(tmp_path / "b")
    for key, rec in (("k1", record()), ("k2", record("3", (7,)))):
        before.put("generation", key, rec)
    after.put("generation", "k1", record(shift=1e-6))
    after.put("generation", "k2", record("3", (7,)))
    assert script.main([str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    result = script.compare(script.records(tmp_path / "a"), script.records(tmp_path / "b"))
    assert result["shared"] == 2 and abs(result["floats"]["logprob"] - 1e-6) < 1e-12
    after.put("generation", "k2", record("3", (8,)))
    after.put("generation", "k3", record())
    assert script.main([str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "r.md")]) == 1
    result = script.compare(script.records(tmp_path / "a"), script.records(tmp_path / "b"))
    assert result["differ"] == ["k2"] and result["only_after"] == ["k3"]
    assert "different: **1**" in (tmp_path / "r.md").read_text()

"""A reopened parent run gets only the params it lacks, and never while its creator may still be
logging them: two clients writing one param at once collide on the store's unique key (on a
PostgreSQL server, ``UniqueViolation`` on ``params_pk``), as two clients starting one sweep did."""

import threading

from mlflow.entities import Param

from mlflow.tracking import MlflowClient

from entropy_bench import tracking
from entropy_bench.tracking import SWEEP_TAG, Tracker

PARAMS = {"a": "1", "b": "2"}


def param_writes(monkeypatch) -> list[dict]:
    """The params each ``Tracker._log`` call writes (calls that write none are left out)."""
    writes = []
    log = Tracker._log

    def recording(self, run_id, params=None, **kwargs):
        if params:
            writes.append(dict(params))
        return log(self, run_id, params=params, **kwargs)

    monkeypatch.setattr(Tracker, "_log", recording)
    return writes


def created_without_params(uri: str, key: str) -> tuple[MlflowClient, str]:
    tracker = Tracker(uri, "sweep")
    return tracker.client, tracker.client.create_run(tracker.experiment_id, tags={SWEEP_TAG: key}).info.run_id


def test_the_creator_logs_the_params_and_a_reopener_writes_none(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    writes = param_writes(monkeypatch)
    first = Tracker(uri, "sweep").open_parent("key", "run", PARAMS)
    assert Tracker(uri, "sweep").open_parent("key", "run", PARAMS) == first
    assert writes == [PARAMS]


def test_a_reopener_waits_for_a_creator_that_is_logging_the_params(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    client, parent = created_without_params(uri, "key")  # the creator is between create_run and its log
    monkeypatch.setattr(tracking, "PARAMS_GRACE_SECONDS", 1.0)
    creator = threading.Timer(0.3, lambda: client.log_batch(parent, params=[Param(k, v) for k, v in PARAMS.items()]))
    writes = param_writes(monkeypatch)
    creator.start()
    assert Tracker(uri, "sweep").open_parent("key", "run", PARAMS) == parent
    creator.join()
    assert writes == []
    assert client.get_run(parent).data.params == PARAMS


def test_a_reopener_completes_the_params_of_a_creator_killed_before_it_logged_them(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    client, parent = created_without_params(uri, "key")
    client.log_param(parent, "a", "1")  # killed halfway through
    monkeypatch.setattr(tracking, "PARAMS_GRACE_SECONDS", 0.1)
    writes = param_writes(monkeypatch)
    assert Tracker(uri, "sweep").open_parent("key", "run", PARAMS) == parent
    assert writes == [{"b": "2"}]
    assert client.get_run(parent).data.params == PARAMS

"""The one-time count of cell runs written before the current layout (``Tracker.legacy_children``):
an old experiment is counted once, then noted; a new one is created noted, so clients starting
it at once never race to tag it; and a client that loses the race to note an old one goes on."""

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from entropy_bench.tracking import CELL_TAG, LEGACY_NOTED_TAG, PARENT_ID_TAG, Tracker


def old_experiment(uri: str, name: str, cells: int) -> None:
    """An experiment as entropy-bench < 0.2 left it: no note, children with no layout tag."""
    client = MlflowClient(uri)
    experiment_id = client.create_experiment(name)
    parent = client.create_run(experiment_id).info.run_id
    for i in range(cells):
        client.create_run(experiment_id, tags={PARENT_ID_TAG: parent, CELL_TAG: f"old-{i}"})


@pytest.fixture
def uri(tmp_path):
    return f"sqlite:///{tmp_path / 'mlruns.db'}"


def test_an_old_experiment_is_counted_once_then_noted(uri):
    old_experiment(uri, "old", cells=3)
    assert Tracker(uri, "old").legacy_children() == 3
    assert Tracker(uri, "old").legacy_children() == 0
    assert MlflowClient(uri).get_experiment_by_name("old").tags[LEGACY_NOTED_TAG] == "3"


def test_a_new_experiment_is_created_noted_and_never_searched(uri, monkeypatch):
    tracker = Tracker(uri, "new")
    assert tracker.client.get_experiment(tracker.experiment_id).tags[LEGACY_NOTED_TAG] == "0"
    monkeypatch.setattr(Tracker, "_search", lambda *args: pytest.fail("searched a new experiment's runs"))
    monkeypatch.setattr(MlflowClient, "set_experiment_tag", lambda *args: pytest.fail("tagged it again"))
    assert tracker.legacy_children() == 0


def test_a_client_that_loses_the_race_to_note_goes_on_and_the_winner_counts(uri, monkeypatch):
    old_experiment(uri, "raced", cells=2)
    set_tag = MlflowClient.set_experiment_tag

    def other_client_first(self, *args):
        # another client noted the experiment between this one's look and its write; the
        # server answers this write as a PostgreSQL server does, with a unique violation
        set_tag(self, *args)
        raise MlflowException('duplicate key value violates unique constraint "experiment_tag_pk"')

    monkeypatch.setattr(MlflowClient, "set_experiment_tag", other_client_first)
    assert Tracker(uri, "raced").legacy_children() == 0


def test_a_failed_note_that_nobody_wrote_is_raised(uri, monkeypatch):
    old_experiment(uri, "broken", cells=1)

    def refused(self, *args):
        raise MlflowException("the store refused the tag")

    monkeypatch.setattr(MlflowClient, "set_experiment_tag", refused)
    with pytest.raises(MlflowException, match="refused"):
        Tracker(uri, "broken").legacy_children()

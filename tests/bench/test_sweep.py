"""Sweep specs: validation (the offending field named), expansion into cells, cell and sweep keys."""

from __future__ import annotations

import copy
import itertools
import random

import pytest

from entropy_bench.methods.registry import InvalidParameterError, UnknownMethodError
from entropy_bench.sweep import SpecError, expand, load, parse, sweep_key
from entropy_bench.tracks.generation import RUN_SETTINGS

BASE = {
    "name": "t",
    "models": ["model-a", "model-b"],
    "tasks": [
        "arithmetic",
        {"name": "arithmetic", "digits": 2, "limit": 3, "max_new_tokens": 5, "split": "train", "optional": True},
        {"name": "gsm8k", "num_fewshot": 2},
    ],
    "decoders": [
        "greedy",
        {"name": "temperature", "temperature": 0.7},
        [{"name": "temperature", "temperature": 0.7}, {"name": "top_p", "top_p": 0.9}],
    ],
    "uncertainty": ["max_sequence_prob", {"name": "mean_token_entropy"}],
    "seeds": [0, 1],
    "limit": 10,
    "max_new_tokens": 7,
    "batch_size": 4,
}

# The ids the spec above must produce, written out by hand.
TASK_IDS = [
    "arithmetic(digits=1,n_examples=200,num_fewshot=4,ops=+-,seed=0,steps=1,style=expression)",
    "arithmetic(digits=2,n_examples=200,num_fewshot=4,ops=+-,seed=0,steps=1,style=expression)",
    "gsm8k(num_fewshot=2)",
]
DECODER_IDS = ["greedy", "temperature(temperature=0.7)", "temperature(temperature=0.7)+top_p(top_p=0.9)"]
MEASURE_IDS = ["max_sequence_prob", "mean_token_entropy"]


def spec(**changes):
    data = copy.deepcopy(BASE)
    data.update(changes)
    return parse(data)


def cells(**changes):
    return expand(spec(**changes))


# --- expansion ---------------------------------------------------------------------------


def test_expand_is_the_full_product():
    got = cells()
    expected = set(itertools.product(BASE["models"], TASK_IDS, DECODER_IDS, BASE["seeds"]))
    assert len(got) == 2 * 3 * 3 * 2
    assert {(c.model, c.task_run.task.id, c.decoder.id, c.seed) for c in got} == expected


def test_every_cell_carries_all_measures_and_the_batch_size_outside_its_params():
    for c in cells():
        assert [m.id for m in c.measures] == MEASURE_IDS == list(c.scorer_ids)
        assert "uncertainty" not in c.params and "batch_size" not in c.params
        assert c.batch_size == 4


def test_no_measures_is_allowed():
    got = cells(uncertainty=[])
    assert all(c.measures == () and c.calculators == () for c in got)


def test_the_measures_statistics_are_planned_once_per_cell():
    (calculator,) = {c.calculators for c in cells()}
    assert [s.name for s in calculator] == ["token_nll"]  # read by max_sequence_prob


def test_task_run_settings_override_the_sweep_and_are_not_task_params():
    by_task = {c.task_run.task.id: c.task_run for c in cells()}
    plain, tuned, gsm = (by_task[i] for i in TASK_IDS)
    # the sweep's settings, and the task's own default split
    assert (plain.limit, plain.max_new_tokens, plain.split, plain.optional) == (10, 7, "test", False)
    # the entry's settings win
    assert (tuned.limit, tuned.max_new_tokens, tuned.split, tuned.optional) == (3, 5, "train", True)
    assert (gsm.limit, gsm.max_new_tokens, gsm.split, gsm.optional) == (10, 7, "test", False)
    # run settings are not task parameters: they do not appear in the task id
    for setting in RUN_SETTINGS:
        assert setting not in tuned.task.params
        assert f"{setting}=" not in tuned.task.id


def test_sweep_split_applies_unless_the_task_overrides_it():
    by_task = {c.task_run.task.id: c.task_run for c in cells(split="train")}
    assert by_task[TASK_IDS[0]].split == "train"
    assert by_task[TASK_IDS[2]].split == "train"
    tasks = [{"name": "arithmetic", "split": "test"}]
    assert {c.task_run.split for c in cells(split="train", tasks=tasks)} == {"test"}


def test_no_limit_anywhere_means_all_examples():
    data = copy.deepcopy(BASE)
    del data["limit"]
    assert {c.task_run.limit for c in expand(parse(data)) if c.task_run.task.id == TASK_IDS[0]} == {None}


def test_cell_params_name_everything():
    c = next(c for c in cells() if c.task_run.task.id == TASK_IDS[1] and c.decoder.id == DECODER_IDS[2])
    assert c.params == {
        "model": c.model,
        "task": TASK_IDS[1],
        "task.name": "arithmetic",
        "task.version": type(c.task_run.task).version,
        "split": "train",
        "limit": "3",
        "max_new_tokens": "5",
        "decoder": "temperature(temperature=0.7)+top_p(top_p=0.9)",
        "seed": str(c.seed),
    }
    assert c.label == f"arithmetic/temperature(temperature=0.7)+top_p(top_p=0.9)/seed={c.seed}"


def test_a_list_of_decoders_becomes_one_chain():
    (chain,) = {c.decoder for c in cells(decoders=[[{"name": "temperature", "temperature": 0.5}, "top_k"]])}
    assert chain.id == "temperature(temperature=0.5)+top_k(top_k=50)"
    assert [d.name for d in chain.decoders] == ["temperature", "top_k"]
    assert chain.decoders[0].temperature == 0.5


def test_a_one_element_chain_is_that_decoder():
    (dec,) = {c.decoder.id for c in cells(decoders=[[{"name": "top_p", "top_p": 0.5}]])}
    assert dec == "top_p(top_p=0.5)"


# --- keys --------------------------------------------------------------------------------


def test_cell_keys_are_unique_and_stable():
    first, second = cells(), cells()
    keys = [c.key for c in first]
    assert len(set(keys)) == len(keys)
    assert keys == [c.key for c in second]
    assert all(len(k) == 20 and int(k, 16) >= 0 for k in keys)


def _key_of_single_cell(**changes):
    base = {
        "tasks": [{"name": "arithmetic", "limit": 5}],
        "decoders": [{"name": "top_p", "top_p": 0.9}],
        "uncertainty": ["mean_token_entropy"],
        "models": ["m"],
        "seeds": [0],
    }
    base.update(changes)
    (c,) = cells(**base)
    return c.key


@pytest.mark.parametrize(
    "change",
    [
        {"tasks": [{"name": "arithmetic", "limit": 6}]},
        {"tasks": [{"name": "arithmetic", "limit": 5, "digits": 2}]},
        {"tasks": [{"name": "arithmetic", "limit": 5, "split": "train"}]},
        {"tasks": [{"name": "arithmetic", "limit": 5, "max_new_tokens": 9}]},
        {"seeds": [1]},
        {"models": ["other"]},
        {"decoders": [{"name": "top_p", "top_p": 0.8}]},
        {"decoders": [{"name": "top_k", "top_k": 50}]},
    ],
    ids=lambda c: str(c),
)
def test_cell_key_changes_with_every_param(change):
    assert _key_of_single_cell(**change) != _key_of_single_cell()


def test_cell_key_ignores_what_does_not_change_results():
    assert _key_of_single_cell(batch_size=1) == _key_of_single_cell(batch_size=32)
    # measures score a cell's data; they do not change it
    for measures in (["max_sequence_prob"], ["mean_token_entropy", "max_sequence_prob"], []):
        assert _key_of_single_cell(uncertainty=measures) == _key_of_single_cell()
    # naming a default explicitly is the same cell
    assert _key_of_single_cell(tasks=[{"name": "arithmetic", "limit": 5, "digits": 1}]) == _key_of_single_cell()


def test_sweep_key_is_order_independent():
    data = copy.deepcopy(BASE)
    rng = random.Random(0)
    for field in ("models", "tasks", "decoders", "seeds"):
        rng.shuffle(data[field])
    data["tasks"].reverse()
    assert sweep_key(expand(parse(data))) == sweep_key(expand(spec()))
    assert sweep_key(expand(spec(seeds=[0]))) != sweep_key(expand(spec()))


# --- validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"batch_size": 0}, "batch_size"),
        ({"seeds": []}, "seeds"),
        ({"models": []}, "models"),
        ({"decoders": []}, "decoders"),
        ({"name": ""}, "name"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_invalid_top_level_fields_raise_spec_error_naming_them(changes, field):
    with pytest.raises(SpecError, match=f"invalid '{field}'"):
        spec(**changes)


def test_a_missing_required_field_is_named():
    data = copy.deepcopy(BASE)
    del data["models"]
    with pytest.raises(SpecError, match="'models'"):
        parse(data)


@pytest.mark.parametrize(
    ("changes", "owner", "field"),
    [
        ({"tasks": [{"name": "arithmetic", "limit": 0}]}, "arithmetic", "limit"),
        ({"tasks": [{"name": "arithmetic", "max_new_tokens": 0}]}, "arithmetic", "max_new_tokens"),
        ({"tasks": [{"name": "arithmetic", "optional": "yes"}]}, "arithmetic", "optional"),
        ({"tasks": [{"name": "arithmetic", "digitz": 2}]}, "arithmetic", "digitz"),
        ({"decoders": [{"name": "top_p", "top_p": 1.5}]}, "top_p", "top_p"),
        ({"decoders": [{"name": "temperature", "temperature": -1}]}, "temperature", "temperature"),
        ({"decoders": [[{"name": "temperature", "temperature": -1}, "top_k"]]}, "temperature", "temperature"),
        ({"decoders": [{"name": "top_p", "topp": 0.9}]}, "top_p", "topp"),
    ],
)
def test_invalid_parameters_raise_naming_the_field(changes, owner, field):
    with pytest.raises(InvalidParameterError) as err:
        cells(**changes)
    assert err.value.field == field
    assert err.value.owner == owner
    assert f"invalid {field!r}" in str(err.value)


@pytest.mark.parametrize(
    ("changes", "family", "name", "suggestion"),
    [
        ({"decoders": ["top-p"]}, "decoder", "top-p", "top_p"),
        ({"decoders": [["temperature", "nucleus"]]}, "decoder", "nucleus", None),
        ({"tasks": ["arithmetc"]}, "task", "arithmetc", "arithmetic"),
        ({"uncertainty": ["mean_token_entropi"]}, "uncertainty measure", "mean_token_entropi", "mean_token_entropy"),
    ],
)
def test_unknown_names_raise_with_did_you_mean(changes, family, name, suggestion):
    with pytest.raises(UnknownMethodError) as err:
        cells(**changes)
    assert str(err.value).startswith(f"unknown {family} {name!r}")
    if suggestion:
        assert f"did you mean {suggestion!r}" in str(err.value)


@pytest.mark.parametrize("field", ["tasks", "uncertainty", "decoders"])
def test_an_entry_without_name_is_a_spec_error(field):
    with pytest.raises(SpecError, match=f"invalid '{field}': entry .* has no 'name'"):
        cells(**{field: [{"num_fewshot": 1}]})
    if field == "decoders":  # inside a chain too
        with pytest.raises(SpecError, match="invalid 'decoders': entry .* has no 'name'"):
            cells(decoders=[["greedy", {"top_p": 0.9}]])


def test_an_empty_chain_is_a_spec_error():
    with pytest.raises(SpecError, match="decoders"):
        cells(decoders=[[]])


@pytest.mark.parametrize(
    ("changes", "listed"),
    [
        ({"decoders": ["greedy", "top_k", "greedy"]}, "decoder listed twice: greedy"),
        # the same decoder spelled twice (a default made explicit; a one-element chain)
        ({"decoders": ["top_k", {"name": "top_k", "top_k": 50}]}, "decoder listed twice: top_k(top_k=50)"),
        ({"decoders": ["greedy", ["greedy"]]}, "decoder listed twice: greedy"),
        ({"uncertainty": ["mean_token_entropy", "mean_token_entropy"]}, "uncertainty measure listed twice"),
        ({"tasks": ["gsm8k", {"name": "gsm8k", "limit": 3}]}, "task listed twice: gsm8k(num_fewshot=5)"),
        ({"seeds": [0, 1, 0]}, "seed listed twice: 0"),
        ({"models": ["a", "b", "a"]}, "model listed twice: a"),
    ],
)
def test_duplicates_are_rejected(changes, listed):
    with pytest.raises(SpecError, match=listed.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        cells(**changes)


# --- loading -----------------------------------------------------------------------------


def test_load_none_is_the_shipped_default():
    default = load(None)
    assert default.name == "default"
    assert load("default") == default
    got = expand(default)
    assert len(got) == len(default.models) * len(default.tasks) * len(default.decoders) * len(default.seeds)
    assert len({c.key for c in got}) == len(got)


def test_load_a_yaml_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nmodels: [m]\ntasks: [arithmetic]\ndecoders: [greedy]\nlimit: 4\n")
    loaded = load(path)
    assert (loaded.name, loaded.limit, loaded.seeds, loaded.max_new_tokens) == ("mine", 4, [0], 64)
    assert load(str(path)) == loaded


@pytest.mark.parametrize("path", ["nonexistent_name", "nowhere/sweep.yaml", "missing.yaml"])
def test_load_of_a_missing_sweep_errors(path):
    with pytest.raises(SpecError, match="no sweep file|does not exist"):
        load(path)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", ""])
def test_load_rejects_a_yaml_that_is_not_a_mapping(tmp_path, text):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match="mapping"):
        load(path)


# --- canonical ids -------------------------------------------------------------------------


def test_an_integer_for_a_float_parameter_is_the_same_decoder_and_the_same_cells():
    """``temperature: 1`` and ``temperature: 1.0`` build one decoder with one id, so the two sweeps
    are the same cells (and the same sweep): no duplicate runs for a spelling."""
    as_int = cells(decoders=[{"name": "temperature", "temperature": 1}, [{"name": "top_p", "top_p": 1}, "greedy"]])
    as_float = cells(decoders=[{"name": "temperature", "temperature": 1.0}, [{"name": "top_p", "top_p": 1.0}, "greedy"]])
    assert [c.key for c in as_int] == [c.key for c in as_float]
    assert sweep_key(as_int) == sweep_key(as_float)
    assert {c.decoder.id for c in as_int} == {"temperature(temperature=1.0)", "top_p(top_p=1.0)+greedy"}
    assert type(as_int[0].decoder.temperature) is float


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"limit": "2"}, "limit"),
        ({"limit": True}, "limit"),
        ({"limit": 2.0}, "limit"),
        ({"seeds": ["a"]}, "seeds.0"),
        ({"seeds": [True]}, "seeds.0"),
        ({"max_new_tokens": 1.5}, "max_new_tokens"),
        ({"batch_size": "8"}, "batch_size"),
        ({"models": [7]}, "models.0"),
        ({"name": 5}, "name"),
        ({"decoders": [3]}, "decoders.0"),
        ({"tasks": [["arithmetic"]]}, "tasks.0"),
    ],
)
def test_top_level_types_are_strict(changes, field):
    with pytest.raises(SpecError, match=f"invalid '{field}'"):
        spec(**changes)


@pytest.mark.parametrize("name", ["x" * 242, "a\nb", "tab\there", " lead", "trail ", "   "])
def test_a_sweep_name_mlflow_would_refuse_or_mangle_is_an_error(name):
    with pytest.raises(SpecError, match="invalid 'name'"):
        spec(name=name)


def test_a_sweep_name_of_the_longest_allowed_length_is_accepted():
    from entropy_bench.tracks.spec import MAX_NAME_LENGTH

    assert spec(name="x" * MAX_NAME_LENGTH).name == "x" * MAX_NAME_LENGTH


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("name: a\nname: b\n", "line 2.*'name' is given twice"),
        ("name: a\nlimit: : 3\n", "invalid YAML at line 2"),
        ("name: a\ntasks: [arithmetic\n", "invalid YAML at line"),
        ("[a, b]\n", "mapping"),
    ],
)
def test_load_names_the_line_of_a_yaml_error(tmp_path, text, match):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=match):
        load(path)


def test_load_of_a_directory_or_a_non_utf8_file_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match="is a directory"):
        load(tmp_path)
    (tmp_path / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    with pytest.raises(SpecError, match="not UTF-8"):
        load(tmp_path / "latin1.yaml")


def test_every_shipped_sweep_expands_and_its_logged_names_fit_mlflow():
    """Every task, decoder and measure of every shipped sweep builds with its parameters (model
    availability is the plan's own check, which needs the models: not here)."""
    from importlib import resources

    from entropy_bench.sweep import check_logged

    names = sorted(p.name.removesuffix(".yaml") for p in resources.files("entropy_bench.sweeps").iterdir()
                   if p.name.endswith(".yaml"))
    assert {"default", "longbench-offline", "gsm-symbolic"} <= set(names)
    for name in names:
        cells = expand(load(name))
        assert cells, name
        check_logged(cells)

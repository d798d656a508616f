"""The method registry: method ids, register / get (did you mean) / build, lazy package loading."""

from __future__ import annotations

import dataclasses
import sys
import textwrap
import uuid

import pytest

from entropy_bench.methods.registry import (
    DECODERS,
    Entry,
    InvalidParameterError,
    Method,
    Registry,
    UnknownMethodError,
    method_id,
)

# --- method ids ---------------------------------------------------------------------------


def test_method_id_without_params_is_the_bare_name():
    assert method_id("greedy", {}) == "greedy"


def test_method_id_sorts_keys():
    assert method_id("m", {"b": 2, "a": 1, "c": "x"}) == "m(a=1,b=2,c=x)"
    assert method_id("m", {"c": "x", "a": 1, "b": 2}) == method_id("m", {"a": 1, "b": 2, "c": "x"})


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.9, "0.9"),
        (1.0, "1.0"),
        (1e-9, "1e-09"),
        (0.1 + 0.2, "0.3"),  # 0.30000000000000004 rounds to 12 digits
        (3, "3"),
        (True, "True"),
        (None, "None"),
        ("+-", "+-"),
    ],
)
def test_method_id_formats_scalars(value, text):
    assert method_id("m", {"v": value}) == f"m(v={text})"


def test_method_id_formats_lists_and_tuples_without_spaces():
    assert method_id("m", {"xs": [1, 0.5, "a"]}) == "m(xs=[1,0.5,a])"
    assert method_id("m", {"xs": (0.1 + 0.2, 2)}) == "m(xs=[0.3,2])"
    assert method_id("m", {"xs": [[1, 2], []]}) == "m(xs=[[1,2],[]])"


def test_method_instance_id_uses_its_fields():
    reg = Registry("widget")

    @reg.register("wid", paper="p")
    @dataclasses.dataclass(frozen=True)
    class Wid(Method):
        beta: float = 0.5
        alpha: int = 3
        derived: int = dataclasses.field(default=0, init=False)

    w = Wid(beta=0.25)
    assert w.params == {"beta": 0.25, "alpha": 3}  # init=False fields are not parameters
    assert w.id == "wid(alpha=3,beta=0.25)"
    assert str(w) == w.id


# --- register -----------------------------------------------------------------------------


def test_register_sets_name_and_paper_and_returns_the_class():
    reg = Registry("widget")

    @dataclasses.dataclass(frozen=True)
    class A(Method):
        """A widget.

        More text."""

        x: int = 1

    out = reg.register("a", paper="Someone (2020)", url="https://example.org")(A)
    assert out is A
    assert A.name == "a" and A.paper == "Someone (2020)"
    entry = reg.get("a")
    assert entry == Entry("a", "widget", A, "Someone (2020)", "https://example.org")
    assert reg.names() == ["a"] and "a" in reg and "b" not in reg
    assert reg.entries() == [entry]


def test_register_requires_a_dataclass():
    reg = Registry("widget")

    class NotADataclass(Method):
        pass

    with pytest.raises(TypeError, match="NotADataclass must be a dataclass"):
        reg.register("nd", paper="p")(NotADataclass)
    assert reg.names() == []


def test_register_rejects_a_duplicate_name():
    reg = Registry("widget")

    @reg.register("same", paper="p")
    @dataclasses.dataclass(frozen=True)
    class First(Method):
        pass

    @dataclasses.dataclass(frozen=True)
    class Second(Method):
        pass

    with pytest.raises(ValueError, match="'same' is registered twice"):
        reg.register("same", paper="p")(Second)
    assert reg.get("same").factory is First
    # re-registering the same class (a module imported twice) is harmless
    reg.register("same", paper="p")(First)
    assert reg.get("same").factory is First


def test_registries_are_independent():
    a, b = Registry("widget"), Registry("gadget")

    @a.register("only_in_a", paper="p")
    @dataclasses.dataclass(frozen=True)
    class W(Method):
        pass

    assert "only_in_a" in a and "only_in_a" not in b
    assert "only_in_a" not in DECODERS


# --- get: unknown names -------------------------------------------------------------------


def test_unknown_name_suggests_the_close_one_and_lists_all():
    with pytest.raises(UnknownMethodError) as err:
        DECODERS.get("top-p")
    message = str(err.value)
    assert message.startswith("unknown decoder 'top-p'")
    assert "did you mean 'top_p'" in message
    names = DECODERS.names()
    assert {"greedy", "temperature", "top_k", "top_p"} <= set(names)
    assert message.endswith("available: " + ", ".join(names))
    assert err.value.name == "top-p" and err.value.family == "decoder" and err.value.available == names
    assert isinstance(err.value, LookupError)


def test_far_off_name_gets_no_suggestion():
    with pytest.raises(UnknownMethodError) as err:
        DECODERS.get("xqzwv")
    assert "did you mean" not in str(err.value)
    assert "available: " in str(err.value)


def test_unknown_name_in_an_empty_registry():
    with pytest.raises(UnknownMethodError, match=r"^unknown widget 'x' available: $"):
        Registry("widget").get("x")


# --- Entry.build / params / summary -------------------------------------------------------


@pytest.fixture
def reg() -> Registry:
    reg = Registry("widget")

    @reg.register("needs", paper="p")
    @dataclasses.dataclass(frozen=True)
    class Needs(Method):
        """Needs a weight.

        Second paragraph."""

        weight: float
        tags: list = dataclasses.field(default_factory=lambda: ["a"])
        scale: float = 2.0

    @reg.register("bare", paper="p")
    @dataclasses.dataclass(frozen=True)
    class Bare(Method):
        pass

    Bare.__doc__ = None
    return reg


def test_entry_params_defaults_and_missing(reg):
    params = reg.get("needs").params
    assert list(params) == ["weight", "tags", "scale"]
    assert params == {"weight": dataclasses.MISSING, "tags": ["a"], "scale": 2.0}
    # default_factory is called afresh: mutating one result does not change the next
    params["tags"].append("b")
    assert reg.get("needs").params["tags"] == ["a"]
    assert reg.get("bare").params == {}


def test_entry_summary_is_the_first_docstring_line(reg):
    assert reg.get("needs").summary == "Needs a weight."
    assert reg.get("bare").summary == ""


def test_build_instantiates_with_params(reg):
    w = reg.build("needs", weight=0.5)
    assert (w.weight, w.tags, w.scale) == (0.5, ["a"], 2.0)
    assert w.id == "needs(scale=2.0,tags=[a],weight=0.5)"
    assert reg.get("needs").build(weight=1.0, scale=3.0).scale == 3.0


def test_build_rejects_a_missing_required_parameter(reg):
    with pytest.raises(InvalidParameterError) as err:
        reg.build("needs", scale=1.0)
    assert err.value.field == "weight"
    assert "missing" in str(err.value)


def test_build_rejects_an_unknown_parameter_with_did_you_mean():
    with pytest.raises(InvalidParameterError) as err:
        DECODERS.build("top_p", topp=0.9)
    assert err.value.field == "topp"
    assert err.value.owner == "top_p"
    assert "'topp'" in str(err.value)
    assert "did you mean 'top_p'?" in str(err.value)


def test_build_rejects_a_far_off_parameter_listing_the_known_ones(reg):
    with pytest.raises(InvalidParameterError) as err:
        reg.build("needs", weight=1.0, zzzz=1)
    assert err.value.field == "zzzz"
    assert "did you mean" not in str(err.value)
    assert "parameters: weight, tags, scale" in str(err.value)
    with pytest.raises(InvalidParameterError, match="parameters: none"):
        reg.build("bare", anything=1)


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("top_p", {"top_p": 1.5}, "top_p"),
        ("top_p", {"top_p": 0.0}, "top_p"),
        ("temperature", {"temperature": -1}, "temperature"),
        ("temperature", {"temperature": 0}, "temperature"),
    ],
)
def test_build_rejects_out_of_range_values_naming_the_field(name, params, field):
    with pytest.raises(InvalidParameterError) as err:
        DECODERS.build(name, **params)
    assert err.value.field == field
    assert isinstance(err.value, ValueError)
    assert f"invalid {field!r}" in str(err.value)


def test_build_of_valid_decoders_gives_their_ids():
    assert DECODERS.build("top_p", top_p=0.5).id == "top_p(top_p=0.5)"
    assert DECODERS.build("temperature", temperature=0.7).id == "temperature(temperature=0.7)"
    assert DECODERS.build("greedy").id == "greedy"


# --- lazy package loading ------------------------------------------------------------------


@pytest.fixture
def tmp_package(tmp_path, monkeypatch):
    """A package ``<name>`` on sys.path whose modules register into ``<name>.REGISTRY``
    (set by the test) and record their import in ``<name>.IMPORTED``."""
    name = f"tmp_methods_{uuid.uuid4().hex[:8]}"
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("REGISTRY = None\nIMPORTED = []\n")
    module = textwrap.dedent(
        """
        import dataclasses
        import {pkg} as pkg
        from entropy_bench.methods.registry import Method

        pkg.IMPORTED.append(__name__.rsplit(".", 1)[-1])


        @pkg.REGISTRY.register("{method}", paper="p")
        @dataclasses.dataclass(frozen=True)
        class M(Method):
            x: int = 1
        """
    )
    (root / "alpha.py").write_text(module.format(pkg=name, method="alpha"))
    (root / "beta.py").write_text(module.format(pkg=name, method="beta"))
    (root / "_private.py").write_text(module.format(pkg=name, method="private"))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[mod]


def test_registry_imports_its_package_on_first_get(tmp_package):
    import importlib

    pkg = importlib.import_module(tmp_package)
    reg = Registry("thing", tmp_package)
    pkg.REGISTRY = reg
    assert pkg.IMPORTED == []  # constructing the registry imports nothing
    assert f"{tmp_package}.alpha" not in sys.modules

    assert reg.get("beta").factory.__module__ == f"{tmp_package}.beta"
    assert sorted(pkg.IMPORTED) == ["alpha", "beta"]  # underscore modules are skipped
    assert f"{tmp_package}._private" not in sys.modules
    assert reg.names() == ["alpha", "beta"]
    reg.get("alpha")
    assert sorted(pkg.IMPORTED) == ["alpha", "beta"]  # loaded once


@pytest.mark.parametrize("first_use", ["names", "contains", "unknown"])
def test_any_lookup_triggers_the_load(tmp_package, first_use):
    import importlib

    pkg = importlib.import_module(tmp_package)
    reg = Registry("thing", tmp_package)
    pkg.REGISTRY = reg
    if first_use == "names":
        assert reg.names() == ["alpha", "beta"]
    elif first_use == "contains":
        assert "alpha" in reg
    else:
        with pytest.raises(UnknownMethodError, match="did you mean 'alpha'.*available: alpha, beta"):
            reg.get("alpah")
    assert sorted(pkg.IMPORTED) == ["alpha", "beta"]


def test_shipped_family_registries_load():
    from entropy_bench.methods.registry import ESTIMATORS, LOSSES, UNCERTAINTY

    assert "mean_token_entropy" in UNCERTAINTY.names()
    # empty families load without error (their packages exist, even with no methods yet)
    assert isinstance(ESTIMATORS.names(), list)
    assert isinstance(LOSSES.names(), list)


# --- Entry.build: types without silent coercion, finite numbers --------------------------


def _float_params():
    """(registry, entry, float parameter) for every float parameter of every shipped method."""
    import typing

    from entropy_bench.methods.registry import ESTIMATORS, LOSSES, UNCERTAINTY
    from entropy_bench.tasks.base import TASKS

    out = []
    for registry in (DECODERS, UNCERTAINTY, ESTIMATORS, LOSSES, TASKS):
        for entry in registry.entries():
            hints = typing.get_type_hints(entry.factory)
            out += [pytest.param(entry, name, id=f"{entry.name}.{name}")
                    for name in entry.params if hints.get(name) is float]
    return out


def _with_required(entry, name, value):
    """``{name: value}`` first, then 1.0 for the entry's other required parameters."""
    required = {k: 1.0 for k, v in entry.params.items() if v is dataclasses.MISSING and k != name}
    return {name: value, **required}


@pytest.mark.parametrize(("entry", "name"), _float_params())
def test_every_float_parameter_of_every_method_refuses_nan_and_inf_unless_declared(entry, name):
    with pytest.raises(InvalidParameterError, match="nan") as err:
        entry.build(**_with_required(entry, name, float("nan")))
    assert (err.value.owner, err.value.field) == (entry.name, name)
    for inf in (float("inf"), float("-inf")):
        if name in entry.factory.infinite_params:
            continue
        with pytest.raises(InvalidParameterError, match="finite") as err:
            entry.build(**_with_required(entry, name, inf))
        assert err.value.field == name


def test_float_parameters_exist_in_every_family_checked():
    families = {p.values[0].family for p in _float_params()}
    assert {"decoder", "estimator", "loss", "task"} <= families


def test_ead_threshold_accepts_both_infinities_but_not_nan():
    assert DECODERS.get("ead").factory.infinite_params == frozenset({"threshold"})
    for inf in (float("inf"), float("-inf")):
        assert DECODERS.build("ead", large_model="m", threshold=inf).threshold == inf
    with pytest.raises(InvalidParameterError, match="'threshold'"):
        DECODERS.build("ead", large_model="m", threshold=float("nan"))


def test_an_int_for_a_float_parameter_becomes_that_float_with_the_same_id():
    as_int, as_float = DECODERS.build("temperature", temperature=1), DECODERS.build("temperature", temperature=1.0)
    assert as_int == as_float and as_int.id == as_float.id == "temperature(temperature=1.0)"
    assert type(as_int.temperature) is float


@pytest.mark.parametrize(
    ("name", "params", "field", "message"),
    [
        ("temperature", {"temperature": True}, "temperature", "must be a number"),
        ("temperature", {"temperature": "0.7"}, "temperature", "must be a number"),
        ("top_k", {"top_k": 5.0}, "top_k", "must be an integer"),
        ("top_k", {"top_k": False}, "top_k", "must be an integer"),
        ("ead", {"large_model": 3}, "large_model", "must be a string"),
        ("ead", {"window": 1.0}, "window", "must be an integer"),
    ],
)
def test_build_does_not_coerce_other_types(name, params, field, message):
    with pytest.raises(InvalidParameterError, match=message) as err:
        DECODERS.build(name, **params)
    assert err.value.field == field


def test_optional_and_unannotated_parameters(reg):
    from entropy_bench.methods.registry import ESTIMATORS

    assert ESTIMATORS.build("nsb", alphabet_size=None).alphabet_size is None
    assert ESTIMATORS.build("nsb", alphabet_size=10).alphabet_size == 10
    with pytest.raises(InvalidParameterError, match="must be an integer"):
        ESTIMATORS.build("nsb", alphabet_size=10.0)
    # a float inside a list parameter must be finite too
    with pytest.raises(InvalidParameterError, match="'tags'"):
        reg.build("needs", weight=1.0, tags=[1.0, float("inf")])
    assert reg.build("needs", weight=1).weight == 1.0 and type(reg.build("needs", weight=1).weight) is float

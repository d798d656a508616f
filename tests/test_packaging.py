"""Packaging: one ``entropy_bench`` namespace over four source folders, every module shipped.

The module list is derived from the source tree (``bench/x.py`` → ``entropy_bench.x``,
``methods/decoders/y.py`` → ``entropy_bench.methods.decoders.y``, …), not from
``pyproject.toml``, so a package missing from its explicit ``packages`` list shows up here.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIRS = {
    "bench": "entropy_bench",
    "methods": "entropy_bench.methods",
    "kernels": "entropy_bench.kernels",
    "tasks": "entropy_bench.tasks",
}
SHIPPED_SWEEPS = sorted(p.name for p in (ROOT / "bench" / "sweeps").glob("*.yaml"))


def _source_files() -> dict[str, Path]:
    """Wheel path (``entropy_bench/methods/decoders/y.py``) → source file, for every module."""
    out = {}
    for folder, package in SOURCE_DIRS.items():
        base = ROOT / folder
        for path in sorted(base.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            out["/".join([*package.split("."), *path.relative_to(base).parts])] = path
    return out


def _module_name(wheel_path: str) -> str:
    parts = wheel_path.removesuffix(".py").split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


SOURCE_FILES = _source_files()
MODULES = sorted(_module_name(p) for p in SOURCE_FILES)


def test_the_walk_finds_the_known_modules():
    assert {
        "entropy_bench",
        "entropy_bench.sweep",
        "entropy_bench.metrics.bootstrap",
        "entropy_bench.methods.registry",
        "entropy_bench.methods.decoders.top_p",
        "entropy_bench.kernels.softmax_stats",
        "entropy_bench.tasks.arithmetic",
    } <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_every_module_is_importable_under_its_namespaced_name(module):
    imported = importlib.import_module(module)
    expected = SOURCE_FILES[next(p for p in SOURCE_FILES if _module_name(p) == module)]
    assert Path(imported.__file__).resolve() == expected.resolve()


def test_every_source_package_is_a_regular_package_listed_in_pyproject():
    """A folder with modules (or one named in ``packages``) needs an ``__init__.py``: without it the
    editable install still finds it as a namespace package, but a wheel or sdist build skips it,
    and an empty folder (not tracked by git) breaks the build of a fresh clone."""
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"] == {package: folder for folder, package in SOURCE_DIRS.items()}
    listed = set(config["packages"])
    folders = {_module_name(p) for p in SOURCE_FILES if p.endswith("/__init__.py")}
    with_modules = {".".join(_module_name(p).split(".")[:-1]) for p in SOURCE_FILES if not p.endswith("__init__.py")}
    assert with_modules <= folders, "folders with modules but no __init__.py"
    assert listed == folders, "pyproject packages vs source folders with an __init__.py"


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> list[str]:
    """Names in a wheel built from a copy of the working tree (a copy, so that a stale ``build/``
    in the checkout cannot add files to the wheel and parallel builds do not collide)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ["pyproject.toml", "README.md", "LICENSE", *SOURCE_DIRS]:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    out = tmp / "dist"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = out.glob("entropy_bench-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        return zf.namelist()


def test_wheel_ships_every_module_and_the_sweeps(wheel_names):
    shipped = {n for n in wheel_names if n.endswith(".py")}
    assert shipped == set(SOURCE_FILES)
    assert SHIPPED_SWEEPS and "default.yaml" in SHIPPED_SWEEPS
    assert {f"entropy_bench/sweeps/{s}" for s in SHIPPED_SWEEPS} <= set(wheel_names)


def test_wheel_installs_only_the_entropy_bench_namespace(wheel_names):
    tops = {n.split("/")[0] for n in wheel_names}
    dist_info = {t for t in tops if t.endswith(".dist-info")}
    assert len(dist_info) == 1 and dist_info.pop().startswith("entropy_bench-")
    assert tops - {t for t in tops if t.endswith(".dist-info")} == {"entropy_bench"}
    assert not any(n.startswith(("kernels/", "tasks/", "methods/", "bench/")) for n in wheel_names)


def test_the_installed_distribution_provides_no_top_level_kernels_or_tasks():
    providers = importlib.metadata.packages_distributions()
    for name in ("kernels", "tasks", "methods", "bench"):
        assert "entropy-bench" not in providers.get(name, []), name
    assert "entropy-bench" in providers.get("entropy_bench", [])


def _modules_after(code: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT.parent,  # not the repo root: the import must go through the installed package
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


RUNNER_SIDE = {"mlflow", "entropy_bench.runner", "entropy_bench.tracking", "entropy_bench.cli", "entropy_bench.tables"}


def test_importing_the_namespace_or_methods_loads_nothing_heavy():
    loaded = _modules_after("import entropy_bench, entropy_bench.methods")
    assert {"entropy_bench", "entropy_bench.methods"} <= loaded
    assert not loaded & (RUNNER_SIDE | {"torch", "transformers"})


def test_loading_every_method_does_not_load_the_runner():
    code = (
        "from entropy_bench.methods.registry import DECODERS, UNCERTAINTY\n"
        "assert DECODERS.names() and UNCERTAINTY.names()"
    )
    loaded = _modules_after(code)
    assert "entropy_bench.methods.decoders.top_p" in loaded
    assert not loaded & RUNNER_SIDE

"""What a fresh machine needs from the project's own files: every third-party package that src/
and tests/ import is declared in pyproject.toml, TensorFlow comes from exactly one of the `cpu` /
`gpu` extras (and a missing one is named), and `make clean` runs under /bin/sh."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions

import pytest

from conftest import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def _name(requirement: str) -> str:
    """The normalized distribution name of a PEP 508 requirement string."""
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip()).group()).lower()


def _imports(folder) -> dict[str, str]:
    """Top-level module -> the first file importing it, for every absolute import under ``folder``."""
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(REPO)))
    return found


@pytest.mark.parametrize("folder, extras", [("src", ["cpu"]), ("tests", ["cpu", "test"])])
def test_every_imported_third_party_package_is_declared(folder, extras):
    declared = {_name(r) for r in PYPROJECT["dependencies"]}
    for extra in extras:
        declared |= {_name(r) for r in PYPROJECT["optional-dependencies"][extra]}
    distributions = packages_distributions()
    local = {p.stem for p in [*(REPO / "tests").glob("*.py"), *(REPO / "benchmarks").glob("*.py")]} | {"ssl_pipelines"}
    undeclared = {}
    for module, where in _imports(REPO / folder).items():
        if module in sys.stdlib_module_names or module in local or module == "__future__":
            continue
        names = {_name(d) for d in distributions.get(module, [])}
        assert names, f"{module} (imported by {where}) is installed by no distribution here"
        if not names & declared:
            undeclared[module] = (sorted(names), where)
    assert not undeclared, f"imported by {folder}/ but not declared in pyproject.toml (with {extras}): {undeclared}"


def test_tensorflow_comes_from_exactly_one_extra():
    """Extras only add to the base dependencies, so TensorFlow is not one of them on Linux/Windows:
    `cpu` brings tensorflow-cpu, `gpu` tensorflow[and-cuda], and the base only macOS's tensorflow (the
    one wheel there). A base tensorflow-cpu plus the gpu extra was two distributions of one module."""
    tf = re.compile(r"tensorflow(-cpu)?(\[|=|;|$)")
    base = [r for r in PYPROJECT["dependencies"] if tf.match(r)]
    assert base == ["tensorflow==2.21.*; sys_platform == 'darwin'"]
    extras = PYPROJECT["optional-dependencies"]
    assert [r for r in extras["cpu"] if tf.match(r)] == ["tensorflow-cpu==2.21.*; sys_platform != 'darwin'"]
    assert [r for r in extras["gpu"] if tf.match(r)] == ["tensorflow[and-cuda]==2.21.*"]
    for name, requirements in extras.items():
        if name not in ("cpu", "gpu"):
            assert not [r for r in requirements if tf.match(r)], f"extra {name} brings a TensorFlow of its own"


def test_import_without_tensorflow_names_the_extras():
    code = "import sys; sys.modules['tensorflow'] = None; import ssl_pipelines"  # find_spec -> None
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert "ssl-pipelines needs TensorFlow, which is not installed" in out.stderr
    assert "pip install -e '.[cpu]'" in out.stderr and "pip install -e '.[gpu]'" in out.stderr


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_clean_empties_the_data_layers_and_keeps_gitkeep(tmp_path):
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    for layer in ("01_raw", "06_models", "08_reporting"):
        (tmp_path / "data" / layer).mkdir(parents=True)
        (tmp_path / "data" / layer / ".gitkeep").touch()
    (tmp_path / "data/06_models/supervised/sub").mkdir(parents=True)
    (tmp_path / "data/06_models/supervised/trained_model.keras").write_text("x")
    (tmp_path / "data/06_models/supervised/sub/with space.npz").write_text("x")
    (tmp_path / "data/01_raw/cifar10_jpeg.npz").write_text("x")
    outside = tmp_path / "imagenet"
    outside.mkdir()
    (outside / "keep.JPEG").write_text("x")
    (tmp_path / "data/01_raw/imagenet").symlink_to(outside)  # a linked data set: the link goes, not the data
    (tmp_path / "mlflow.db").write_text("x")
    out = subprocess.run(["make", "clean"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    left = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "data").rglob("*"))
    assert left == ["data/01_raw", "data/01_raw/.gitkeep", "data/06_models", "data/06_models/.gitkeep",
                    "data/08_reporting", "data/08_reporting/.gitkeep"]
    assert not (tmp_path / "mlflow.db").exists() and (outside / "keep.JPEG").exists()

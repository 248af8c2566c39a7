"""benchmarks/RESULTS.md and the README's results table regenerate byte for byte from the committed
MLflow stores (``benchmarks/stores/*.db``; no training): the commands of the Makefile's ``results``
target (RESULTS.md's header), run on a temporary copy of ``benchmarks/`` and ``README.md``, never on
the repository's own files. A section whose store is not in the repository yet (its driver has not
run and committed it) is skipped, named, and left out of the whole-file comparison."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

BENCH = REPO / "benchmarks"
SPEC = BENCH / "results_sections.yml"
COMMAND = ("ssl-pipelines results --all-sections --spec benchmarks/results_sections.yml "
           "--write benchmarks/RESULTS.md")


def _committed_stores() -> set[str]:
    """The store files (``benchmarks/stores/<name>.db``) the repository holds: git's tracked files,
    so a store a benchmark is still writing, not committed yet, does not count (no git: the files)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "benchmarks/stores"], cwd=REPO, capture_output=True,
                             timeout=60, check=True).stdout.decode()
        return {str(REPO / p) for p in out.split("\0") if p.endswith(".db")}
    except (OSError, subprocess.SubprocessError):
        return {str(p) for p in (BENCH / "stores").glob("*.db")}


def _sections() -> tuple[dict, dict[str, str]]:
    """The spec's sections, and those to skip -> why (their store is not in the repository)."""
    from ssl_pipelines.hooks import sqlite_store_path
    from ssl_pipelines.reporting_sections import load_spec

    specs = load_spec(SPEC)
    committed = _committed_stores()
    skipped = {}
    for name, spec in specs.items():
        path = sqlite_store_path(spec.store) if spec.store else None
        if path is not None and str(path.resolve()) not in committed:
            skipped[name] = (f"section {name}: its store {path.relative_to(REPO.resolve())} is not in the "
                             f"repository yet" + (f" (`{spec.driver}` runs its sweep)" if spec.driver else ""))
    return specs, skipped


def _block(text: str, name: str) -> str | None:
    """Section ``name`` of a RESULTS.md text, markers included (None: not there)."""
    start, end = f"<!-- section: {name} -->", f"<!-- end: {name} -->"
    i = text.find(start)
    return None if i < 0 else text[i:text.index(end, i) + len(end)]


def _without(text: str, names) -> str:
    """``text`` without the sections ``names`` (each with the blank line before it, as written)."""
    for name in names:
        block = _block(text, name)
        if block is not None:
            text = text.replace("\n" + block + "\n", "", 1)
    return text


def _fingerprint() -> dict[str, str]:
    """sha256 of every file the regeneration reads or writes in the repository, and the stores' names."""
    # the committed stores only: a benchmark may be writing an uncommitted one meanwhile
    files = [BENCH / "RESULTS.md", REPO / "README.md", *sorted(Path(p) for p in _committed_stores())]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir" for p in files}


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    """Run the Makefile's ``results`` commands on a temporary copy: RESULTS.md deleted, written again
    by ``--all-sections`` (``--allow-missing`` for the skipped sections, whose placeholders are then
    taken out) and ``benchmarks/m2_per_pass.py --summary``, then the README table from it."""
    from ssl_pipelines import cli

    specs, skipped = _sections()
    before = _fingerprint()
    copy = tmp_path_factory.mktemp("results") / "repo"
    shutil.copytree(BENCH, copy / "benchmarks", ignore=shutil.ignore_patterns("stores", "runs", "__pycache__"))
    (copy / "benchmarks" / "stores").mkdir()
    for store in _committed_stores():
        if Path(store).parent == BENCH / "stores":
            shutil.copy(store, copy / "benchmarks" / "stores")
    shutil.copy(REPO / "README.md", copy / "README.md")
    results = copy / "benchmarks" / "RESULTS.md"
    results.unlink()  # "deleting it and running these two commands writes it again byte for byte"
    cwd = os.getcwd()
    with pytest.MonkeyPatch.context() as mp:
        for var in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME"):
            mp.delenv(var, raising=False)
        os.chdir(copy)
        try:
            argv = COMMAND.split()[1:] + (["--allow-missing"] if skipped else [])
            assert cli.main(argv) == 0, f"`{' '.join(argv)}` failed"
            out = subprocess.run([sys.executable, "benchmarks/m2_per_pass.py", "--summary", "--write",
                                  "benchmarks/RESULTS.md"], cwd=copy, capture_output=True, text=True, timeout=600)
            assert out.returncode == 0, out.stderr[-3000:]
            written = results.read_text()
            for name in skipped:  # a skipped section is a placeholder here, never a table
                assert "_Not generated yet:" in (_block(written, name) or "_Not generated yet:"), name
            results.write_text(_without(written, skipped))
            readme_rows = (copy / "benchmarks" / "readme_results.yml").read_text()
            readme_skipped = sorted(n for n in skipped if f"section: {n}\n" in readme_rows)
            if not readme_skipped:
                assert cli.main(["results", "--readme", "benchmarks/readme_results.yml", "--write", "README.md"]) == 0
        finally:
            os.chdir(cwd)
    yield {"specs": specs, "skipped": skipped, "results": results.read_text(), "readme": copy / "README.md",
           "readme_skipped": readme_skipped}
    assert _fingerprint() == before, "the regeneration changed a file of the repository"


@pytest.mark.heavy(25)  # the module's fixture: reading every store, ~25 s on 2 loaded cores
def test_results_md_regenerates_byte_for_byte_from_the_committed_stores(regenerated):
    committed = _without((BENCH / "RESULTS.md").read_text(), regenerated["skipped"])
    assert regenerated["results"] == committed, (
        "benchmarks/RESULTS.md differs from what `make results` writes from the committed stores (skipped: "
        f"{sorted(regenerated['skipped'])}); regenerate it with the Makefile's `results` commands")


@pytest.mark.parametrize("name", list(_sections()[0]))
def test_each_section_regenerates_from_its_store(regenerated, name):
    """One test per section of the spec, so a difference names its section (and a skip says why)."""
    if name in regenerated["skipped"]:
        pytest.skip(regenerated["skipped"][name])
    ours = _block(regenerated["results"], name)
    assert ours is not None, f"section {name} was not written"
    assert ours == _block((BENCH / "RESULTS.md").read_text(), name), f"section {name} differs from its store's"


def test_readme_results_table_regenerates_byte_for_byte(regenerated):
    if regenerated["readme_skipped"]:
        pytest.skip(f"the README table reads sections {regenerated['readme_skipped']}, whose stores are not in the "
                    f"repository yet")
    assert regenerated["readme"].read_bytes() == (REPO / "README.md").read_bytes(), (
        "README.md's results table differs from `ssl-pipelines results --readme benchmarks/readme_results.yml`")


def test_these_are_the_makefile_results_commands():
    """The commands run above are the Makefile's ``results`` target's (and RESULTS.md's header's)."""
    makefile = (REPO / "Makefile").read_text()
    target = makefile[makefile.index("\nresults: setup\n") + 1:].split("\n\n")[0]
    assert target.splitlines()[1:] == [
        f"\t$(BIN)/{COMMAND}",
        "\t$(BIN)/python benchmarks/m2_per_pass.py --summary --write benchmarks/RESULTS.md",
        "\t$(BIN)/ssl-pipelines results --readme benchmarks/readme_results.yml --write README.md"]
    assert COMMAND in (BENCH / "RESULTS.md").read_text()

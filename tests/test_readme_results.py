"""The README results table is copied from RESULTS.md by ``ssl-pipelines results --readme``
(reporting_readme.py), never edited by hand: the repository's README block is what the command
writes from the repository's RESULTS.md, and the copy rules work on a small hand-made document."""

from __future__ import annotations

import pytest
from conftest import REPO

from ssl_pipelines import cli
from ssl_pipelines.data.errors import ConfigError
from ssl_pipelines.reporting_readme import README_SECTION, render_readme_table
from ssl_pipelines.reporting_sections import replace_section

RESULTS = """# Results

<!-- section: outer -->
## Outer

| model | test error % | paper |
|---|---|---|
| a | **12.30 ± 0.67** (11.86, 13.25, 11.79) | 11.97 ± 1.71 (M2) |

<!-- section: inner -->
| variant | labels | acc. % | test error % |
|---|---|---|---|
| x | 50 | 80.5 ± 1.2 | 19.50 ± 1.20 |
| x | 100 | 90.25 | 9.75 |
<!-- end: inner -->

| variant | labels | acc. % |
|---|---|---|
| x | 50 | 1.0 |
<!-- end: outer -->
"""

SPEC = """source: RESULTS.md
rows:
  - method: A
    data: MNIST, 100
    section: outer
    ours: [{row: {model: a}, column: test error %}, {row: {variant: x, labels: 100}, column: test error %}]
    join: " vs "
    budget: 30 CPU-min
    paper: [{row: {model: a}, column: paper}]
  - method: X as errors
    data: MNIST, 50 / 100
    section: inner
    error_from_accuracy: true
    ours: [{row: {variant: x, labels: 50}, column: acc. %}, {row: {variant: x, labels: 100}, column: acc. %}]
"""


@pytest.fixture
def spec(tmp_path):
    (tmp_path / "RESULTS.md").write_text(RESULTS)
    (tmp_path / "readme.yml").write_text(SPEC)
    return tmp_path / "readme.yml"


def test_rows_are_copied_by_hand_computed_rules(spec):
    lines = render_readme_table(spec).splitlines()
    assert lines[0] == f"<!-- section: {README_SECTION} -->" and lines[-1] == f"<!-- end: {README_SECTION} -->"
    # bold and the per-seed list dropped; the inner section's table is part of the outer section;
    # the first table that has the column and the row wins (the later "acc. %" table is not read)
    assert lines[4] == "| A | MNIST, 100 | 12.30 ± 0.67 vs 9.75 (30 CPU-min) | 11.97 ± 1.71 (M2) |"
    # accuracies as errors: 100 - 80.5 = 19.5 (one decimal, as written), the std unchanged
    assert lines[5] == "| X as errors | MNIST, 50 / 100 | 19.5 ± 1.2 / 9.75 | — |"


def test_a_missing_row_or_bad_spec_is_named(spec, tmp_path):
    spec.write_text(SPEC.replace("labels: 100}, column: test error %", "labels: 1000}, column: test error %"))
    with pytest.raises(ConfigError, match=r"section 'outer' has no table with column 'test error %' and a row "
                                          r"\{'variant': 'x', 'labels': '1000'\}"):
        render_readme_table(spec)
    spec.write_text(SPEC.replace("    section: outer\n", "    section: nowhere\n"))
    with pytest.raises(ConfigError, match="no section 'nowhere'"):
        render_readme_table(spec)
    spec.write_text(SPEC.replace("join:", "joint:"))
    with pytest.raises(ConfigError, match=r"rows\[0\] must be a mapping with method, data, section, ours"):
        render_readme_table(spec)


def test_cli_writes_the_block_and_keeps_the_rest(spec, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\nbefore\n\n<!-- section: readme_results -->\nold\n<!-- end: readme_results -->\n\nafter\n")
    argv = ["results", "--readme", str(spec), "--write", str(readme)]
    assert cli.main(argv) == 0
    first = readme.read_text()
    assert first.startswith("# Title\n\nbefore\n\n<!-- section: readme_results -->\n") and first.endswith("\nafter\n")
    assert "old" not in first and "| A | MNIST, 100 |" in first
    assert cli.main(argv) == 0 and readme.read_text() == first  # same RESULTS.md, same bytes
    assert cli.main(["results", "--readme", str(spec), "--section", "x"]) == 2
    assert "two different outputs" in capsys.readouterr().err


def test_the_readme_table_is_what_the_command_writes_from_results_md():
    readme = (REPO / "README.md").read_text()
    regenerated = replace_section(readme, README_SECTION, render_readme_table(REPO / "benchmarks" / "readme_results.yml"))
    assert regenerated == readme, ("README.md's results table differs from RESULTS.md: run "
                                   "`ssl-pipelines results --readme benchmarks/readme_results.yml --write README.md`")

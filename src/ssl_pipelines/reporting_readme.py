"""The README's results table, copied from the tables of benchmarks/RESULTS.md (the README is not
hand-edited; RESULTS.md's generated sections come from the MLflow stores).

A spec (``benchmarks/readme_results.yml``) lists the README rows; each names a RESULTS.md section
and, per number, the row (``{header: value, ...}``) and column (a header) of a markdown table in
that section. The first table of the section that has the column and a matching row is used, so
a section's tables need no numbering. ``ssl-pipelines results --readme benchmarks/readme_results.yml
--write README.md`` replaces the README block between ``<!-- section: readme_results -->`` and
``<!-- end: readme_results -->``; the same RESULTS.md writes the same bytes.

Spec keys of a row: ``method``, ``data`` (text cells), ``section`` (a RESULTS.md section name),
``ours`` (a list of ``{row, column}``), ``join`` (between numbers, default ``" / "``), ``budget``
(text after the numbers, in parentheses), ``paper`` (a list of ``{row, column}`` or a text;
``"—"`` when absent), ``paper_prefix`` (text before the paper numbers), ``error_from_accuracy``
(``true``: the cells are accuracies in %, written as errors ``100 - mean ± std``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ssl_pipelines.errors import ConfigError
from ssl_pipelines.reporting_sections import replace_section

README_SECTION = "readme_results"
HEADERS = ["method", "data, labels", "ours (budget)", "paper (full budget)"]
_ROW_KEYS = {"method", "data", "section", "ours", "join", "budget", "paper", "paper_prefix", "error_from_accuracy"}


@dataclass(frozen=True)
class Cell:
    """One number of a RESULTS.md table: the row whose cells equal ``row``, in column ``column``."""
    row: dict[str, str]
    column: str


@dataclass(frozen=True)
class ReadmeRow:
    method: str
    data: str
    section: str
    ours: list[Cell]
    join: str = " / "
    budget: str = ""
    paper: list[Cell] | str = "—"
    paper_prefix: str = ""
    error_from_accuracy: bool = False


def _error(where: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"{where} must be {expected}, got {value!r}")


def _cells(value: Any, where: str) -> list[Cell]:
    if not isinstance(value, list) or not value:
        raise _error(where, value, "a non-empty list of {row: {header: value}, column: header}")
    cells = []
    for k, c in enumerate(value):
        if (not isinstance(c, dict) or set(c) != {"row", "column"} or not isinstance(c["row"], dict)
                or not c["row"] or not isinstance(c["column"], str)):
            raise _error(f"{where}[{k}]", c, "{row: {header: value, ...}, column: header}")
        cells.append(Cell({str(h): str(v) for h, v in c["row"].items()}, c["column"]))
    return cells


def load_readme_spec(path: str | Path) -> tuple[Path, list[ReadmeRow]]:
    """The spec's source (RESULTS.md, relative to the spec) and its rows, checked."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"README results spec {str(path)!r} not found") from None
    if not isinstance(raw, dict) or set(raw) != {"source", "rows"} or not isinstance(raw["rows"], list):
        raise _error(str(path), sorted(raw) if isinstance(raw, dict) else raw, "a mapping with keys source and rows")
    rows = []
    for k, r in enumerate(raw["rows"]):
        where = f"{path}: rows[{k}]"
        if not isinstance(r, dict) or not {"method", "data", "section", "ours"} <= set(r) or set(r) - _ROW_KEYS:
            raise _error(where, sorted(r) if isinstance(r, dict) else r,
                         f"a mapping with method, data, section, ours and optionally {sorted(_ROW_KEYS)}")
        paper = r.get("paper", "—")
        rows.append(ReadmeRow(
            method=str(r["method"]), data=str(r["data"]), section=str(r["section"]),
            ours=_cells(r["ours"], f"{where}.ours"), join=str(r.get("join", " / ")), budget=str(r.get("budget", "")),
            paper=paper if isinstance(paper, str) else _cells(paper, f"{where}.paper"),
            paper_prefix=str(r.get("paper_prefix", "")), error_from_accuracy=bool(r.get("error_from_accuracy", False))))
    return path.parent / str(raw["source"]), rows


def section_text(document: str, name: str) -> str:
    """The text of section ``name`` of a RESULTS.md document (nested sections included)."""
    start, end = f"<!-- section: {name} -->", f"<!-- end: {name} -->"
    i = document.find(start)
    j = document.find(end, i)
    if i < 0 or j < 0:
        raise ConfigError(f"RESULTS.md has no section {name!r} (markers {start} ... {end})")
    return document[i + len(start):j]


def markdown_tables(text: str) -> list[list[dict[str, str]]]:
    """Every markdown table of ``text`` as a list of rows (header -> cell text)."""
    tables, lines = [], text.splitlines()
    k = 0
    while k < len(lines):
        if lines[k].startswith("|") and k + 1 < len(lines) and re.match(r"^\|(\s*:?-+:?\s*\|)+\s*$", lines[k + 1]):
            headers = _split(lines[k])
            rows, k = [], k + 2
            while k < len(lines) and lines[k].startswith("|"):
                rows.append(dict(zip(headers, _split(lines[k]))))
                k += 1
            tables.append(rows)
        else:
            k += 1
    return tables


def _split(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _plain(text: str) -> str:
    """A cell without bold and code marks: ``**12.30 ± 0.67**`` -> ``12.30 ± 0.67``."""
    return text.replace("**", "").replace("`", "").strip()


def _number(text: str) -> str:
    """The number of a cell without its per-seed list: ``**21.07 ± 0.65** (21.14, ...)`` -> ``21.07 ± 0.65``."""
    return re.sub(r"\s*\([^()]*\)\s*$", "", _plain(text)).strip()


def _as_error(text: str, where: str) -> str:
    m = re.fullmatch(r"(-?\d+(?:\.\d+)?)(?:\s*±\s*(\d+(?:\.\d+)?))?", text)
    if not m:
        raise ConfigError(f"{where}: cell {text!r} is not an accuracy (mean or mean ± std) to turn into an error")
    digits = len(m.group(1).split(".")[1]) if "." in m.group(1) else 0
    mean = f"{100.0 - float(m.group(1)):.{digits}f}"
    return mean + (f" ± {m.group(2)}" if m.group(2) else "")


def lookup(document: str, section: str, cell: Cell, whole: bool = False) -> str:
    """The number in ``cell`` of section ``section`` (the first table with the column and a row
    whose cells equal ``cell.row``; without its per-seed list, or the ``whole`` cell without bold
    marks); a ConfigError names what was not found."""
    for table in markdown_tables(section_text(document, section)):
        for row in table:
            if cell.column in row and all(_plain(row.get(h, "")) == v for h, v in cell.row.items()):
                return _plain(row[cell.column]) if whole else _number(row[cell.column])
    raise ConfigError(f"RESULTS.md section {section!r} has no table with column {cell.column!r} and a row {cell.row}")


def render_row(document: str, row: ReadmeRow) -> list[str]:
    def values(cells: list[Cell], whole: bool = False) -> list[str]:
        out = [lookup(document, row.section, c, whole) for c in cells]
        return [_as_error(v, f"{row.method}") for v in out] if row.error_from_accuracy else out

    ours = row.join.join(values(row.ours)) + (f" ({row.budget})" if row.budget else "")
    paper = (row.paper if isinstance(row.paper, str)
             else row.paper_prefix + " / ".join(values(row.paper, whole=not row.error_from_accuracy)))
    return [row.method, row.data, ours, paper]


def render_readme_table(spec_path: str | Path, results: str | Path | None = None) -> str:
    """The README block (markers included) from the spec and RESULTS.md (default: the spec's source)."""
    source, rows = load_readme_spec(spec_path)
    document = Path(results or source).read_text()
    lines = [f"<!-- section: {README_SECTION} -->",
             f"<!-- written by `ssl-pipelines results --readme {Path(spec_path).name}` from "
             f"{Path(results or source).name}: do not edit by hand -->",
             "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(render_row(document, r)) + " |" for r in rows]
    return "\n".join(lines + [f"<!-- end: {README_SECTION} -->", ""])


def write_readme_table(spec_path: str | Path, write: str | Path | None = None,
                       results: str | Path | None = None) -> str:
    """Render the block; with ``write``, replace it in that file (everything else kept)."""
    block = render_readme_table(spec_path, results)
    if write is not None:
        path = Path(write)
        path.write_text(replace_section(path.read_text() if path.exists() else "", README_SECTION, block))
    return block


__all__ = ["Cell", "ReadmeRow", "load_readme_spec", "section_text", "markdown_tables", "lookup", "render_row",
           "render_readme_table", "write_readme_table", "README_SECTION"]

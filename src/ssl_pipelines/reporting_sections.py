"""Sections of ``benchmarks/RESULTS.md`` generated from the MLflow store (``ssl-pipelines results
--section NAME --spec benchmarks/results_sections.yml [--write benchmarks/RESULTS.md]``).

A spec file names, per section, the sweep parent run the table is read from (its run name, the
newest of that name, or its run id), the table's rows and columns and the prose above it::

    std: sample                       # the one convention of every table (ddof=1)
    sections:
      inversion:
        parent: bench-inversion       # run name or run id of the `ssl-pipelines sweep` parent
        title: "### inversion vs CE only (MNIST)"
        prose: sections/inversion.md  # relative to the spec file; or `text: |` inline
        driver: .venv/bin/python benchmarks/inversion.py   # optional: what runs the sweep (named when
                                      # its store or sweep is missing, and by --allow-missing's placeholder)
        columns:                      # default: method, variant, labels, runs, seeds, test.error, paper
          - {column: method}
          - {column: variant}
          - {column: labels}
          - {metric: test.error, header: "test error %"}
          - {param: inversion.train.steps_per_epoch, header: steps/epoch}
          - {column: paper}
        paper: {ce_only: null}        # variant -> the published.py method of its row (null: none), or
                                      # method/variant for one row of a paper's table (swwae_vgg/SAE-first)
        previous: {inversion/100: "12.93 ± 1.40"}   # the old script's number of a row (variant or
                                      # method / labels; or {metric: "mean ± std"}), for the columns
                                      # `previous` and `agrees` (|mean - previous| <= the two stds)
        methods: [inversion]          # optional: only these methods' child runs (one table of a sweep
                                      # whose other rows come from a newer sweep)
        store: stores/inversion.db    # optional: the sqlite store of the sweep, relative to the spec
                                      # (--tracking-uri overrides it); experiment: its MLflow experiment
      m2_per_pass:
        external: "benchmarks/m2_per_pass.py --write benchmarks/RESULTS.md"   # written by another
                                      # command: --all-sections keeps its place and leaves it alone
    header: sections/header.md        # the file's text above the first section (--all-sections)

A section is written between ``<!-- section: NAME -->`` and ``<!-- end: NAME -->``: the title,
the prose, the parent run id and name, the sweep's ``sweep.command`` tag, the table (one row per
method x variant x data set x label count, in the sweep's order; a metric column is
``mean ± std`` over the row's runs) and where the paper numbers come from
(:mod:`ssl_pipelines.published`, nothing else). Everything is read from the store and formatted
with fixed precision, so regenerating a section from the same store gives the same bytes; the
other sections of the file are left as they are.

``--all-sections`` writes every section of the spec, each from its own ``store``; into a missing
file it writes the ``header`` and then the sections in the spec's order, so deleting the file and
running the documented commands writes it again byte for byte. A section whose store or sweep
parent run is missing fails the command, naming the section, what is missing and the ``driver``
that runs its sweep (nothing is written); ``--allow-missing`` writes a "Not generated yet"
placeholder for it instead (a partial clone would otherwise silently lose those tables). A ``ratio`` column compares a row
with the first row seed by seed (the rounds of an interleaved timing sweep, ``sweep --interleave``),
``ratio_in_method`` with the first row of the same method, ``speedup_in_method`` is its inverse (the
first row's metric over this row's: a step-time speedup). A metric key may name ``{method}`` and
``{stage}`` (the section's ``stages:`` map, method -> the stage whose metrics the column reads).
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ssl_pipelines.errors import ConfigError
from ssl_pipelines.published import canonical_dataset, published_for

STD_CONVENTIONS = {"sample": 1, "population": 0}
BUILTIN_COLUMNS = {"method": "method", "variant": "variant", "dataset": "data set", "labels": "labels",
                   "runs": "runs", "seeds": "seeds", "paper": "paper (published.py)",
                   "previous": "previous script", "agrees": "within the seed spread?",
                   "ratio": "ratio to the first row (median; per seed)",
                   "ratio_in_method": "ratio to the method's first row (median; per seed)",
                   "speedup_in_method": "speedup over the method's first row (median; per seed)",
                   "parity_in_method": "same as the method's first row? (|Δ mean| ≤ max(its std, 0.5))",
                   "verdict": "the claim at this scale"}
#: columns comparing a row's first metric with a reference row's, seed by seed (speedup: theirs / ours)
RATIO_COLUMNS = ("ratio", "ratio_in_method", "speedup_in_method")
DEFAULT_COLUMNS = [{"column": "method"}, {"column": "variant"}, {"column": "labels"}, {"column": "runs"},
                   {"column": "seeds"}, {"metric": "test.error", "header": "test error %"}, {"column": "paper"}]
RUN_ID = re.compile(r"^[0-9a-f]{32}$")
logger = logging.getLogger(__name__)


def _spec_error(where: str, value: Any, expected: str) -> ValueError:
    return ConfigError(f"{where} must be {expected}, got {value!r}")


# === The spec ===
@dataclass(frozen=True)
class Column:
    """One table column: a built-in (``column``), a metric's mean ± std (``metric``) or a logged
    parameter (``param``; its distinct values in the row's runs)."""

    kind: str  # column | metric | param
    key: str
    header: str
    digits: int = 2


@dataclass(frozen=True)
class SectionSpec:
    name: str
    parent: str
    title: str = ""
    prose: str = ""
    columns: tuple[Column, ...] = ()
    paper: dict = field(default_factory=dict)  # variant -> published method (None: no paper number)
    ddof: int = 1
    previous: dict = field(default_factory=dict)  # "<variant or method>/<labels>" -> {metric: "mean ± std"}
    methods: tuple[str, ...] = ()  # only the child runs of these methods (empty: all)
    store: str | None = None  # tracking URI of the sweep's store (from the spec's `store:`)
    experiment: str | None = None  # its MLflow experiment (None: the command's)
    external: str | None = None  # the command that writes this section (not this generator)
    driver: str | None = None  # the benchmark command that runs the sweep (named while it has not run)
    stages: dict = field(default_factory=dict)  # method -> its training stage, for ``{stage}`` in metric keys
    claims: dict = field(default_factory=dict)  # "<variant or method>/<labels>" -> {"at_most": x, "below": row}


def _column(entry: Any, where: str) -> Column:
    if not isinstance(entry, dict) or len({"column", "metric", "param"} & set(entry)) != 1:
        raise _spec_error(where, entry, "a mapping with one of column / metric / param (and header, digits)")
    unknown = set(entry) - {"column", "metric", "param", "header", "digits"}
    if unknown:
        raise _spec_error(f"{where} key {sorted(unknown)[0]!r}", entry, "one of column, metric, param, header, digits")
    kind = next(k for k in ("column", "metric", "param") if k in entry)
    key = entry[kind]
    if kind == "column" and key not in BUILTIN_COLUMNS:
        raise _spec_error(f"{where}.column", key, f"one of {sorted(BUILTIN_COLUMNS)}")
    if not isinstance(key, str) or not key:
        raise _spec_error(f"{where}.{kind}", key, "a non-empty string")
    digits = entry.get("digits", 2)
    if isinstance(digits, bool) or not isinstance(digits, int) or not 0 <= digits <= 6:
        raise _spec_error(f"{where}.digits", digits, "an integer in 0..6")
    header = entry.get("header", BUILTIN_COLUMNS.get(key, key) if kind == "column" else key)
    return Column(kind, key, str(header), digits)


def load_spec(path: str | Path) -> dict[str, SectionSpec]:
    """The sections of a spec file, checked (a bad key or value raises ConfigError naming it)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise _spec_error("--spec", str(path), "an existing YAML file") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("sections"), dict):
        raise _spec_error(f"{path}: 'sections'", raw.get("sections") if isinstance(raw, dict) else raw,
                          "a mapping of section name -> {parent, title, prose|text, columns, paper}")
    unknown = set(raw) - {"std", "sections", "header"}
    if unknown:
        raise _spec_error(f"{path}: key {sorted(unknown)[0]!r}", raw[sorted(unknown)[0]], "one of std, sections, header")
    std = raw.get("std", "sample")
    if std not in STD_CONVENTIONS:
        raise _spec_error(f"{path}: std", std, f"one of {sorted(STD_CONVENTIONS)}")
    out = {}
    for name, s in raw["sections"].items():
        where = f"{path}: sections.{name}"
        if not isinstance(s, dict):
            raise _spec_error(where, s, "a mapping")
        keys = ("parent", "title", "prose", "text", "columns", "paper", "previous", "methods", "store",
                "experiment", "external", "driver", "stages", "claims")
        unknown = set(s) - set(keys)
        if unknown:
            raise _spec_error(f"{where} key {sorted(unknown)[0]!r}", s[sorted(unknown)[0]], "one of " + ", ".join(keys))
        if "external" in s:
            if set(s) != {"external"} or not isinstance(s["external"], str) or not s["external"].strip():
                raise _spec_error(f"{where}.external", s, "the command that writes the section, alone")
            out[str(name)] = SectionSpec(str(name), "", external=s["external"].strip())
            continue
        store = None
        if s.get("store") is not None:
            if not isinstance(s["store"], str) or not s["store"]:
                raise _spec_error(f"{where}.store", s["store"], "a sqlite file relative to the spec, or a tracking URI")
            store = s["store"] if "://" in s["store"] else f"sqlite:///{(path.parent / s['store']).resolve()}"
        methods = s.get("methods") or []
        if not isinstance(methods, list) or not all(isinstance(m, str) and m for m in methods):
            raise _spec_error(f"{where}.methods", methods, "a list of method names (the rows to keep)")
        if not isinstance(s.get("parent"), str) or not s["parent"]:
            raise _spec_error(f"{where}.parent", s.get("parent"), "the sweep's parent run name or run id")
        if "prose" in s and "text" in s:
            raise _spec_error(f"{where}", "prose and text", "one of prose (a file) or text (inline)")
        prose = ""
        if "prose" in s:
            prose_path = path.parent / str(s["prose"])
            if not prose_path.is_file():
                raise _spec_error(f"{where}.prose", str(s["prose"]), f"a file (relative to {path.parent})")
            prose = prose_path.read_text()
        elif "text" in s:
            prose = str(s["text"])
        columns = tuple(_column(c, f"{where}.columns[{i}]") for i, c in enumerate(s.get("columns") or DEFAULT_COLUMNS))
        paper = s.get("paper") or {}
        if not isinstance(paper, dict):
            raise _spec_error(f"{where}.paper", paper, "a mapping variant -> published method (or null)")
        for variant, key in paper.items():
            if key is not None and "/" in str(key) and not _published(str(key), None, None):
                raise _spec_error(f"{where}.paper.{variant}", key, "a published.py method/variant (a row of "
                                  "src/ssl_pipelines/published.py)")
        previous = s.get("previous") or {}
        first = next((c.key for c in columns if c.kind == "metric"), None)
        try:
            previous = {str(k): {str(m): str(x) for m, x in (v.items() if isinstance(v, dict) else [(first, v)])}
                        for k, v in previous.items()}
            ok = all(_parse_mean_std(x) is not None for v in previous.values() for x in v.values())
        except AttributeError:
            ok = False
        if not ok:
            raise _spec_error(f"{where}.previous", s.get("previous"), 'a mapping "<variant or method>/<labels>" -> '
                              '"mean ± std" (of the first metric column) or {metric: "mean ± std", ...}')
        if any(c.kind == "column" and c.key == "agrees" for c in columns) and \
                not any(c.kind == "metric" for c in columns):
            raise _spec_error(f"{where}.columns", "agrees", "used with a metric column (the first one is compared)")
        if any(c.kind == "column" and c.key in (*RATIO_COLUMNS, "parity_in_method", "verdict") for c in columns) and \
                not any(c.kind == "metric" for c in columns):
            raise _spec_error(f"{where}.columns", "ratio", "used with a metric column (the first one is compared)")
        driver = s.get("driver")
        if driver is not None and (not isinstance(driver, str) or not driver.strip()):
            raise _spec_error(f"{where}.driver", driver, "the command that runs the section's sweep")
        claims = s.get("claims") or {}
        if not isinstance(claims, dict) or not all(
                isinstance(c, dict) and c and set(c) <= {"at_most", "below"}
                and (c.get("at_most") is None or isinstance(c["at_most"], (int, float)))
                and (c.get("below") is None or isinstance(c["below"], str)) for c in claims.values()):
            raise _spec_error(f"{where}.claims", claims, 'a mapping "<variant or method>/<labels>" -> {at_most: '
                              'number, below: "<variant or method>"} (one or both)')
        stages = s.get("stages") or {}
        if not isinstance(stages, dict) or not all(isinstance(v, str) and v for v in stages.values()):
            raise _spec_error(f"{where}.stages", stages, "a mapping method -> the stage whose metrics {stage} names")
        out[str(name)] = SectionSpec(str(name), s["parent"], str(s.get("title") or ""), prose.strip(), columns,
                                     dict(paper), STD_CONVENTIONS[std], previous, tuple(methods), store,
                                     str(s["experiment"]) if s.get("experiment") else None,
                                     driver=driver.strip() if driver else None,
                                     stages={str(k): str(v) for k, v in stages.items()},
                                     claims={str(k): dict(v) for k, v in claims.items()})
    return out


def load_header(path: str | Path) -> str:
    """The spec's ``header`` (a file relative to the spec): the text above the first section of a
    file written by ``--all-sections``; empty when the spec has none."""
    path = Path(path)
    raw = yaml.safe_load(path.read_text()) or {}
    header = raw.get("header") if isinstance(raw, dict) else None
    if header is None:
        return ""
    header_path = path.parent / str(header)
    if not header_path.is_file():
        raise _spec_error(f"{path}: header", header, f"a file (relative to {path.parent})")
    return header_path.read_text()


# === Reading the store ===
def _sweep_parents(client, experiment_id: str, name: str) -> list:
    """The sweep parent runs named ``name``, newest first."""
    return client.search_runs([experiment_id], filter_string=f"tags.`mlflow.runName` = '{name}' and tags.sweep = 'true'",
                              order_by=["attributes.start_time DESC"], max_results=100)


def find_parent(client, experiment_id: str, parent: str):
    """The sweep parent run ``parent``: the run with that id, or the newest FINISHED sweep run of that
    name (a sweep still running, or interrupted, does not replace the table of the last one that
    finished)."""
    if RUN_ID.match(parent):
        try:
            return client.get_run(parent)
        except Exception:  # noqa: BLE001 - fall back to a run of that name
            pass
    runs = _sweep_parents(client, experiment_id, parent)
    finished = [r for r in runs if r.info.status == "FINISHED"]
    if not finished:
        raise _spec_error("the section's parent", parent, "the run id or run name of a FINISHED sweep parent run in "
                          "the store" + (f" (its sweeps: {', '.join(r.info.status for r in runs)})" if runs else ""))
    return finished[0]


def unfinished_parent(client, experiment_id: str, parent: str):
    """The newest sweep parent run named ``parent`` when no sweep of that name has finished (a long
    sweep stopped between sessions, continued by the same command), else None."""
    runs = _sweep_parents(client, experiment_id, parent)
    if not runs or any(r.info.status == "FINISHED" for r in runs):
        return None
    return runs[0]


def in_progress_text(spec: "SectionSpec", client, experiment_id: str, run) -> str:
    """The section of a sweep that has not finished: what it is, how many runs have finished, and
    the command that continues it (no table: a table of a part of the seeds would read as a result)."""
    start, end = _markers(spec.name)
    done = child_runs(client, experiment_id, run.info.run_id)
    title = f"{spec.title}\n\n" if spec.title else ""
    again = f"`{spec.driver}` started again" if spec.driver else "the same `ssl-pipelines sweep` command"
    return (f"{start}\n{title}_In progress: sweep `{spec.parent}` (MLflow run `{run.info.run_id}`, "
            f"{run.info.status}) has {len(done)} finished child runs so far; {again} continues it (its finished "
            f"runs are kept) and then writes this section._\n{end}\n")


def child_runs(client, experiment_id: str, parent_run_id: str) -> list:
    """The FINISHED method runs of a sweep, in the order they started (the sweep's order)."""
    runs = client.search_runs([experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}'",
                              order_by=["attributes.start_time ASC"], max_results=50000)
    return [r for r in runs if r.info.status == "FINISHED" and r.data.tags.get("method")]


# === The table ===
def _labels(tags: dict) -> int | None:
    for key in ("labels", "num_labeled"):
        try:
            return int(float(tags[key]))
        except (KeyError, TypeError, ValueError):
            continue
    return None


def mean_std(values: list[float], digits: int = 2, ddof: int = 1) -> str:
    """``"12.34 ± 0.56"`` (std with ``ddof``; one value: ``"12.34"``; none: ``"–"``)."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "–"
    mean = float(np.mean(values))
    if len(values) <= ddof or len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {float(np.std(values, ddof=ddof)):.{digits}f}"


def _parse_mean_std(text) -> tuple[float, float] | None:
    """``"12.34 ± 0.56"`` -> ``(12.34, 0.56)``; ``"12.34"`` -> ``(12.34, 0.0)``; else None."""
    parts = str(text).replace("+-", "±").split("±")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        return None
    return (values[0], values[1] if len(values) == 2 else 0.0) if len(values) in (1, 2) else None


def _finite(values) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


#: the smallest difference of means ``parity_in_method`` counts as a difference (points of the metric)
PARITY_FLOOR = 0.5


def parity(values: list[float], reference: list[float], ddof: int = 1, digits: int = 2) -> str:
    """Whether this row's mean matches a reference row's (the same configuration in another
    precision): ``|mean - reference mean| <= max(reference std, PARITY_FLOOR)`` ->
    ``"yes (+0.12 ≤ 0.61)"`` / ``"no (-1.30 > 0.50)"``."""
    ours, theirs = _finite(values), _finite(reference)
    if not ours or not theirs:
        return "–"
    delta = float(np.mean(ours)) - float(np.mean(theirs))
    spread = float(np.std(theirs, ddof=ddof)) if len(theirs) > ddof else 0.0
    bound = max(spread, PARITY_FLOOR)
    ok = abs(delta) <= bound
    return f"{'yes' if ok else 'no'} ({delta:+.{digits}f} {'≤' if ok else '>'} {bound:.{digits}f})"


def verdict(values: list[float], claim: dict, other: list[float] | None = None, ddof: int = 1,
            digits: int = 2) -> str:
    """Whether a row meets its claim (the first metric, lower is better), decided against the seeds'
    spread: ``at_most: T`` holds when mean + std <= T, fails when mean - std > T, else is within the
    spread; ``below: <row>`` holds when the other row's mean exceeds this one's by more than the two
    stds, is reversed when it is the other way round, else no difference within the spread."""
    ours = _finite(values)
    if not ours:
        return "–"

    def stats(v):
        return float(np.mean(v)), float(np.std(v, ddof=ddof)) if len(v) > ddof else 0.0

    mean, std = stats(ours)
    parts = []
    if claim.get("at_most") is not None:
        target = float(claim["at_most"])
        word = "holds" if mean + std <= target else "fails" if mean - std > target else "within the spread"
        parts.append(f"{word}: {mean:.{digits}f} ± {std:.{digits}f} vs ≤ {target:g}")
    if claim.get("below") is not None:
        theirs = _finite(other or [])
        if not theirs:
            parts.append(f"below {claim['below']}: –")
        else:
            o_mean, o_std = stats(theirs)
            gap = o_mean - mean
            word = "holds" if gap > std + o_std else "reversed" if -gap > std + o_std else "no difference"
            parts.append(f"below {claim['below']}: {word} ({-gap:+.{digits}f}, spread {std + o_std:.{digits}f})")
    return "; ".join(parts)


def agreement(values: list[float], previous: str, ddof: int = 1, digits: int = 2) -> str:
    """Whether this row's mean is within the seed spread of the previous script's: ``|mean -
    previous mean| <= std + previous std`` -> ``"yes (+0.52)"`` / ``"no (-3.10)"``."""
    old = _parse_mean_std(previous)
    values = [v for v in values if v is not None and math.isfinite(v)]
    if old is None or not values:
        return "–"
    mean = float(np.mean(values))
    std = float(np.std(values, ddof=ddof)) if len(values) > ddof else 0.0
    delta = round(mean - old[0], digits) + 0.0  # no "-0.00"
    return f"{'yes' if abs(delta) <= std + old[1] else 'no'} ({delta:+.{digits}f})"


def _published(key: str, dataset: str | None, labels: int | None) -> list:
    """The published numbers of ``key`` = ``method`` or ``method/variant`` (one row of a paper's table,
    e.g. ``swwae_vgg/SWWAE-all``); a named row is shown even when its data set and label count differ."""
    method, _, row = key.partition("/")
    found = [p for p in published_for(method, dataset, labels) if not row or p.variant == row]
    if not found and row:
        found = [p for p in published_for(method) if p.variant == row]
    return found


def _paper(method: str, dataset: str | None, labels: int | None, variant: str | None, spec: SectionSpec) -> str:
    key = spec.paper.get(variant, method) if variant is not None else spec.paper.get(method, method)
    if key is None or labels is None:
        return "–"
    same = [p for p in _published(key, dataset, labels)
            if dataset is None or p.dataset == canonical_dataset(dataset)]
    if same:
        return "; ".join(p.label() + (f" ({p.variant})" if p.variant else "") for p in same)
    other = _published(key, None, labels)
    return "; ".join(f"{p.label()} ({p.dataset}" + (f", {p.variant}" if p.variant else "") + ")" for p in other) or "–"


def ratio_cell(runs: list, key: str, reference: list, reference_key: str) -> str:
    """``"0.83 (0.90 / 0.76 / 0.83)"``: per seed, metric ``key`` of ``runs`` over ``reference_key`` of
    ``reference`` (the same seed: one round of an interleaved sweep), then their median; "–" without
    a common seed."""
    ours = {r.data.tags.get("seed"): r.data.metrics.get(key) for r in runs}
    theirs = {r.data.tags.get("seed"): r.data.metrics.get(reference_key) for r in reference}
    seeds = sorted((s for s in ours if s in theirs and ours[s] is not None and theirs[s]),
                   key=lambda s: int(s) if str(s).isdigit() else 0)
    ratios = [ours[s] / theirs[s] for s in seeds if math.isfinite(ours[s] / theirs[s])]
    if not ratios:
        return "–"
    return f"{float(np.median(ratios)):.2f} (" + " / ".join(f"{r:.2f}" for r in ratios) + ")"


def metric_key(column: Column, method: str, stages: dict | None = None) -> str:
    """A metric column's key for a row of ``method``: ``{method}`` in the key is replaced by it
    (``{method}.step_ms``: each pipeline logs its own stage's metric), ``{stage}`` by the method's
    entry of the section's ``stages`` (its training stage, e.g. ``d2`` for r2d2), else by the method."""
    return column.key.replace("{method}", method).replace("{stage}", (stages or {}).get(method, method))


def section_rows(runs: list, spec: SectionSpec) -> tuple[list[str], list[list[str]]]:
    """Headers and cells of the section's table: one row per method x variant x data set x label
    count, in the order of each row's first run."""
    groups: dict[tuple, list] = {}
    for run in runs:
        t = run.data.tags
        key = (t["method"], t.get("variant"), canonical_dataset(t.get("dataset")), _labels(t))
        groups.setdefault(key, []).append(run)
    metrics = {c.key: c for c in spec.columns if c.kind == "metric"}
    first_metric = next((c for c in spec.columns if c.kind == "metric"), None)
    reference_key, reference = next(iter(groups.items()), ((None,), []))
    firsts: dict[str, tuple] = {}  # method -> its first row (key, runs): the reference of ratio_in_method
    for key, members in groups.items():
        firsts.setdefault(key[0], (key, members))
    rows = []
    for (method, variant, dataset, labels), members in groups.items():
        previous = {m: v for m, v in spec.previous.get(f"{variant or method}/{labels}", {}).items() if m in metrics}
        cells = []
        for col in spec.columns:
            if col.kind == "metric":
                cells.append(mean_std([r.data.metrics.get(metric_key(col, method, spec.stages)) for r in members], col.digits,
                                      spec.ddof))
            elif col.kind == "param":
                cells.append(", ".join(dict.fromkeys(str(r.data.params.get(col.key, "–")) for r in members)))
            elif col.key == "method":
                cells.append(method)
            elif col.key == "variant":
                cells.append(variant or "–")
            elif col.key == "dataset":
                cells.append(dataset or "–")
            elif col.key == "labels":
                cells.append("–" if labels is None else str(labels))
            elif col.key == "runs":
                cells.append(str(len(members)))
            elif col.key == "seeds":
                cells.append(",".join(str(s) for s in sorted({int(r.data.tags["seed"]) for r in members
                                                              if str(r.data.tags.get("seed", "")).isdigit()})))
            elif col.key == "paper":
                cells.append(_paper(method, dataset, labels, variant, spec))
            elif col.key == "previous":
                cells.append(" / ".join(previous.values()) or "–")
            elif col.key in RATIO_COLUMNS:
                key_of, ref = (reference_key, reference) if col.key == "ratio" else firsts[method]
                ours_key = metric_key(first_metric, method, spec.stages)
                ref_key = metric_key(first_metric, key_of[0], spec.stages)
                cells.append("reference" if members is ref else
                             ratio_cell(ref, ref_key, members, ours_key) if col.key == "speedup_in_method" else
                             ratio_cell(members, ours_key, ref, ref_key))
            elif col.key == "verdict":
                claim = spec.claims.get(f"{variant or method}/{labels}")
                key = metric_key(first_metric, method, spec.stages)
                other = None
                if claim and claim.get("below"):
                    other = [r.data.metrics.get(key) for k, rs in groups.items() for r in rs
                             if (k[1] or k[0]) == claim["below"] and k[3] == labels]
                cells.append(verdict([r.data.metrics.get(key) for r in members], claim, other, spec.ddof,
                                     first_metric.digits) if claim else "–")
            elif col.key == "parity_in_method":
                ref = firsts[method][1]
                key = metric_key(first_metric, method, spec.stages)
                cells.append("reference" if members is ref else
                             parity([r.data.metrics.get(key) for r in members], [r.data.metrics.get(key) for r in ref],
                                    spec.ddof, first_metric.digits))
            elif col.key == "agrees":
                cells.append(" / ".join(agreement([r.data.metrics.get(m) for r in members], v, spec.ddof,
                                                  metrics[m].digits) for m, v in previous.items()) or "–")
        rows.append(cells)
    return [c.header for c in spec.columns], rows


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return (text or "–").replace("|", "\\|")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


class MissingSweep(ConfigError):
    """A section's store, experiment or sweep parent run is not there (yet): the message names the
    section, what is missing and, with a ``driver``, the command that runs its sweep."""


def render_section(spec: SectionSpec, tracking_uri: str | None, experiment: str, default_uri: str | None = None,
                   allow_missing: bool = False) -> str:
    """The section's text, markers included, from the store (``tracking_uri``, else the spec's
    ``store``, else ``default_uri``) and experiment (the spec's ``experiment``, else ``experiment``).

    A missing store, experiment or sweep parent run raises :class:`MissingSweep` naming the section
    and what is missing; with ``allow_missing`` the section is a "Not generated yet" placeholder
    instead (naming its ``driver``, the command that runs the sweep, when the spec has one)."""
    import mlflow

    from ssl_pipelines.hooks import sqlite_store_path

    if spec.external:
        start, end = _markers(spec.name)
        return f"{start}\n_Written by `{spec.external}`._\n{end}\n"
    tracking_uri = tracking_uri or spec.store or default_uri
    experiment = spec.experiment or experiment
    store = sqlite_store_path(tracking_uri)
    try:
        if store is not None and not store.is_file():
            # reading must not create a store: an empty one would hide a wrong path
            raise _spec_error(f"section {spec.name}: the store", tracking_uri, "an existing sqlite file")
        client = mlflow.MlflowClient(tracking_uri=tracking_uri)
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            raise _spec_error("--experiment", experiment, f"an MLflow experiment of {tracking_uri}")
        running = unfinished_parent(client, exp.experiment_id, spec.parent) if not RUN_ID.match(spec.parent) else None
        if running is not None:
            return in_progress_text(spec, client, exp.experiment_id, running)
        parent = find_parent(client, exp.experiment_id, spec.parent)
    except ConfigError as exc:
        what = str(exc) if str(exc).startswith(f"section {spec.name}:") else f"section {spec.name}: {exc}"
        if str(tracking_uri) not in what:
            what += f" (store {tracking_uri}, experiment {experiment})"
        runs_it = f" (`{spec.driver}` runs its sweep and writes the section)" if spec.driver else ""
        if not allow_missing:
            raise MissingSweep(what + runs_it) from None
        # a sweep not run yet: the section says which command makes it (and the log says it is missing)
        logger.warning("%s%s; writing a placeholder (allow_missing)", what, runs_it)
        start, end = _markers(spec.name)
        title = f"{spec.title}\n\n" if spec.title else ""
        made_by = (f"`{spec.driver}` runs its sweep and writes this section from the MLflow store" if spec.driver else
                   f"its sweep `{spec.parent}` is not in the MLflow store yet")
        return f"{start}\n{title}_Not generated yet: {made_by}._\n{end}\n"
    runs = child_runs(client, exp.experiment_id, parent.info.run_id)
    if spec.methods:
        runs = [r for r in runs if r.data.tags.get("method") in spec.methods]
    if not runs:
        raise _spec_error(f"section {spec.name}: the sweep {spec.parent}", parent.info.run_id,
                          "a parent run with FINISHED child runs" + (f" of {list(spec.methods)}" if spec.methods else ""))
    headers, rows = section_rows(runs, spec)
    command = parent.data.tags.get("sweep.command", "(not recorded: the sweep predates the sweep.command tag)")
    # the answer first (the table), then how it was made (protocol, the command, folded)
    parts = [f"<!-- section: {spec.name} -->"]
    if spec.title:
        parts.append(spec.title)
    parts.append(markdown_table(headers, rows))
    if any(c.kind == "column" and c.key == "paper" for c in spec.columns):
        parts.append("Paper numbers: `src/ssl_pipelines/published.py` (the paper's own data set named when it "
                     "differs).")
    if spec.prose:
        parts.append(spec.prose)
    made_by = (f"Generated by `ssl-pipelines results --section {spec.name}` from MLflow parent run "
               f"`{parent.info.run_id}` (`{parent.info.run_name}`, {len(runs)} finished child runs"
               + (f" of {', '.join(spec.methods)}" if spec.methods else "") + ")"
               + (f"; the benchmark driver `{spec.driver}` runs this sweep, then writes this section" if spec.driver
                  else "") + ".")
    parts.append(made_by)
    parts.append(f"<details><summary>the sweep's command</summary>\n\n```bash\n{command}\n```\n\n</details>")
    return "\n\n".join(parts) + f"\n<!-- end: {spec.name} -->\n"


# === Writing RESULTS.md ===
def _markers(name: str) -> tuple[str, str]:
    return f"<!-- section: {name} -->", f"<!-- end: {name} -->"


INDEX = "index"


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _table_column(rendered: str, header: str) -> list[tuple[str, str]]:
    """``(first cell, cell under header)`` of every row of the first Markdown table of ``rendered``."""
    lines = [line for line in rendered.splitlines() if line.startswith("|")]
    if len(lines) < 3:
        return []
    def cells(line):
        return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
    headers = cells(lines[0])
    if header not in headers:
        return []
    i = headers.index(header)
    return [(row[0], row[i]) for row in (cells(line) for line in lines[2:]) if len(row) > i]


def _rendered_in(text: str, specs: dict) -> dict:
    """The sections of ``specs`` as ``text`` holds them (markers included)."""
    out = {}
    for name in specs:
        start, end = _markers(name)
        i = text.find(start)
        j = text.find(end, i) if i >= 0 else -1
        if i >= 0 and j >= 0:
            out[name] = text[i:j + len(end)]
    return out


def render_index(specs: dict, rendered: dict) -> str:
    """The index RESULTS.md opens with: a line per section (its heading, linked) and, for a
    section with a ``verdict`` column, each claim row's verdict."""
    lines = [_markers(INDEX)[0], "## Index", ""]
    for name, spec in specs.items():
        if spec.external or name not in rendered:
            continue
        heading = next((line.lstrip("#").strip() for line in reversed(spec.title.splitlines())
                        if line.startswith("#")), name)
        lines.append(f"- [{heading}](#{_anchor(heading)})")
        verdict_column = next((c for c in spec.columns if c.kind == "column" and c.key == "verdict"), None)
        if verdict_column is not None:
            for row, cell in _table_column(rendered[name], verdict_column.header):
                if cell not in ("–", ""):
                    lines.append(f"  - {row}: {cell}")
    return "\n".join(lines) + f"\n{_markers(INDEX)[1]}\n"


def replace_section(document: str, name: str, section: str) -> str:
    """``document`` with section ``name`` (markers included) replaced by ``section``, or ``section``
    appended when the document has none; every other byte is kept."""
    start, end = _markers(name)
    i = document.find(start)
    if i < 0:
        return document.rstrip("\n") + "\n\n" + section if document.strip() else section
    j = document.find(end, i)
    if j < 0:
        raise _spec_error(f"section {name}", start, f"closed by {end}")
    j += len(end)
    if document[j:j + 1] == "\n":
        j += 1
    return document[:i] + section + document[j:]


def write_sections(names: list[str] | None, spec_path: str | Path, tracking_uri: str | None, experiment: str,
                   write: str | Path | None = None, default_uri: str | None = None, allow_missing: bool = False) -> str:
    """Render the sections ``names`` of the spec (None: all of them, in the spec's order; an
    ``external`` section is rendered only as its place in a new file); with ``write``, put them into
    that file; a missing file is created with the spec's ``header`` first. ``tracking_uri`` (None:
    each section's ``store``, else ``default_uri``) overrides the spec's stores. Returns the rendered text of the sections.

    A section whose store or sweep parent run is missing fails the whole call (one
    :class:`MissingSweep` naming every such section; nothing is written), unless ``allow_missing``
    (then it is a "Not generated yet" placeholder, see :func:`render_section`)."""
    specs = load_spec(spec_path)
    whole = names is None
    names = list(specs) if names is None else names
    missing = [n for n in names if n not in specs]
    if missing:
        raise _spec_error("--section", missing[0], f"one of the spec's sections {sorted(specs)}")
    external = [n for n in names if specs[n].external]
    if external and len(names) == 1:
        raise _spec_error("--section", external[0], f"a section of this generator (it is written by "
                          f"`{specs[external[0]].external}`)")
    rendered, missing_sweeps = {}, []
    for n in names:
        try:
            rendered[n] = render_section(specs[n], tracking_uri, experiment, default_uri, allow_missing)
        except MissingSweep as exc:
            missing_sweeps.append(str(exc))
    if missing_sweeps:
        many = len(missing_sweeps) > 1
        raise MissingSweep((f"{len(missing_sweeps)} sections have no store or sweep to read:\n  " if many else "")
                           + "\n  ".join(missing_sweeps)
                           + ("\n" if many else "; ") + ("nothing was written; " if write is not None else "")
                           + "--allow-missing writes a 'Not generated yet' placeholder for " + ("them" if many else "it"))
    if write is not None:
        path = Path(write)
        new = not path.exists()
        text = load_header(spec_path) if new else path.read_text()
        for n in names:
            if new or not specs[n].external or _markers(n)[0] not in text:
                text = replace_section(text, n, rendered[n])
        if whole or _markers(INDEX)[0] in text:  # the whole file (or one that has it): the index after the header
            index = render_index(specs, {**_rendered_in(text, specs), **rendered})
            if _markers(INDEX)[0] in text:
                text = replace_section(text, INDEX, index)
            else:
                first = min((text.find(_markers(n)[0]) for n in names if _markers(n)[0] in text), default=len(text))
                text = text[:first] + index + "\n" + text[first:]
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)  # all sections or none: a failure above leaves the file as it was
    return "\n".join(rendered[n] for n in names if not specs[n].external)


__all__ = ["SectionSpec", "Column", "MissingSweep", "load_spec", "find_parent", "child_runs", "mean_std", "section_rows",
           "markdown_table", "render_section", "replace_section", "write_sections", "load_header", "ratio_cell",
           "metric_key"]

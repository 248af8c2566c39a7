"""Compare methods across runs: read the MLflow runs of a sweep (or of any ``kedro run``) into a
DataFrame, aggregate the test error per method x data set x label count as mean ± std over seeds,
put the published number of the paper next to it, and write the table as Markdown and as an image,
with the learning curves of every method on one plot.

Importable without Kedro; used by ``ssl-pipelines results`` and ``notebooks/compare_runs.ipynb``::

    from ssl_pipelines import reporting
    runs = reporting.load_runs("sqlite:///mlflow.db")           # one row per finished method run
    table = reporting.results_table(runs)                        # mean ± std + published
    print(reporting.to_markdown(table))
    reporting.errors_figure(runs, table).savefig("results.png")   # per-seed points + published
    reporting.learning_curves_all_figure(reporting.load_curves(runs, uri)).savefig("curves.png")
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ssl_pipelines.published import canonical_dataset, published_for

DEFAULT_EXPERIMENT = "ssl_pipelines"
RUN_COLUMNS = ["run_id", "parent_run_id", "run_name", "status", "method", "variant", "dataset", "labels",
               "labels_per_class", "seed", "test_error", "test_accuracy", "test_top5_error",
               "validation_error", "budget", "start_time"]


def _client(tracking_uri: str | None):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=tracking_uri)


def _to_int(value) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def run_budget(method: str | None, params: dict) -> str:
    """The training budget of a run from its logged parameters: every ``<method>.<stage>.epochs``
    and ``steps_per_epoch``, e.g. ``"train.epochs=30 train.steps_per_epoch=10"`` ("" if none)."""
    if not method:
        return ""
    prefix = f"{method}."
    keys = sorted(k for k in params if k.startswith(prefix) and k.endswith((".epochs", ".steps_per_epoch")))
    return " ".join(f"{k[len(prefix):]}={params[k]}" for k in keys)


def latest_sweep(tracking_uri: str | None = None, experiment: str = DEFAULT_EXPERIMENT) -> str | None:
    """The run id of the newest sweep parent run (tag ``sweep=true``) of ``experiment``, or None."""
    client = _client(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return None
    runs = client.search_runs([exp.experiment_id], filter_string="tags.sweep = 'true'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0].info.run_id if runs else None


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _group_keys(runs: pd.DataFrame) -> list:
    """``method, variant, dataset, labels`` (a table without the ``variant`` column: a missing one)."""
    if "variant" not in runs.columns:
        runs["variant"] = None
    return ["method", "variant", "dataset", "labels"]


def display_names(runs: pd.DataFrame) -> list[str]:
    """``method``, or ``method [variant]`` for the runs of a sweep's ``--variant``."""
    variants = runs["variant"] if "variant" in runs.columns else [None] * len(runs)
    return [m if _missing(v) else f"{m} [{v}]" for m, v in zip(runs["method"], variants)]


def check_budgets(runs: pd.DataFrame) -> None:
    """Refuse to average runs trained with different budgets: raises ValueError naming, for each
    method x variant x data set x label count with more than one budget, the budgets and their runs."""
    if runs.empty or "budget" not in runs.columns:
        return
    problems = []
    for (method, variant, dataset, labels), grp in runs.groupby(_group_keys(runs), dropna=False, sort=True):
        budgets = grp.groupby(grp["budget"].fillna(""))["run_id"].apply(list)
        if len(budgets) > 1:
            listed = "; ".join(f"[{b or 'no epochs logged'}]: {', '.join(ids)}" for b, ids in budgets.items())
            name = method if _missing(variant) else f"{method} [{variant}]"
            problems.append(f"{name} ({dataset}, {labels} labels): {listed}")
    if problems:
        raise ValueError("refusing to average runs trained with different budgets (pick one sweep with "
                         "--parent, or delete/filter the runs):\n  " + "\n  ".join(problems))


def load_runs(tracking_uri: str | None = None, experiment: str = DEFAULT_EXPERIMENT, *,
              parent_run_id: str | None = None, statuses: Sequence[str] | None = ("FINISHED",),
              num_classes: int = 10) -> pd.DataFrame:
    """The method runs of ``experiment`` as one row each (newest first).

    A method run is a run tagged ``method`` (set by ``ssl_pipelines.hooks.PipelineNameHooks`` on
    every ``kedro run`` and on every child run of ``ssl-pipelines sweep``); sweep parent runs are
    left out. ``labels`` is the total number of labels: the ``labels`` tag of sweep children, else
    the ``num_labeled`` tag, else ``labels_per_class * num_classes``.

    Args:
        tracking_uri: MLflow tracking URI (``None``: MLflow's default / ``MLFLOW_TRACKING_URI``).
        experiment: experiment name.
        parent_run_id: keep only the children of this sweep run.
        statuses: keep runs with these statuses (``None``: all).
        num_classes: classes of the data, to turn ``labels_per_class`` into a label count.
    """
    client = _client(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise ValueError(f"MLflow experiment {experiment!r} not found at {tracking_uri or 'the default URI'}")
    filters = ["tags.method != ''"]
    if parent_run_id:
        filters.append(f"tags.`mlflow.parentRunId` = '{parent_run_id}'")
    runs = client.search_runs([exp.experiment_id], filter_string=" and ".join(filters),
                              order_by=["attributes.start_time DESC"], max_results=50000)
    rows = []
    for run in runs:
        tags, metrics = run.data.tags, run.data.metrics
        if statuses is not None and run.info.status not in statuses:
            continue
        lpc = _to_int(tags.get("labels_per_class"))
        labels = _to_int(tags.get("labels")) or _to_int(tags.get("num_labeled"))
        if labels is None and lpc is not None:
            labels = lpc * num_classes
        rows.append({
            "run_id": run.info.run_id,
            "parent_run_id": tags.get("mlflow.parentRunId"),
            "run_name": run.info.run_name,
            "status": run.info.status,
            "method": tags.get("method"),
            "variant": tags.get("variant"),
            "dataset": canonical_dataset(tags.get("dataset")),
            "labels": labels,
            "labels_per_class": lpc,
            "seed": _to_int(tags.get("seed")),
            "test_error": metrics.get("test.error"),
            "test_accuracy": metrics.get("test.accuracy"),
            "test_top5_error": metrics.get("test.top5_error"),
            "validation_error": metrics.get("validation.error"),
            "budget": run_budget(tags.get("method"), run.data.params),
            "start_time": pd.to_datetime(run.info.start_time, unit="ms"),
        })
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def aggregate(runs: pd.DataFrame, metric: str = "test_error") -> pd.DataFrame:
    """Mean ± sample std (ddof=1; NaN for a single run) of ``metric`` per method x variant (the
    ``--variant`` of a sweep; none for most runs) x data set x label count, with the number of runs
    and their seeds. Runs without the metric are dropped."""
    columns = ["method", "variant", "dataset", "labels", "n_runs", "seeds", "mean", "std"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    done = runs.dropna(subset=[metric]).copy()
    done["labels"] = done["labels"].astype("Int64")
    out = []
    for (method, variant, dataset, labels), grp in done.groupby(_group_keys(done), dropna=False, sort=True):
        values = grp[metric].to_numpy(dtype=float)
        seeds = sorted({int(s) for s in grp["seed"].dropna()})
        out.append({"method": method, "variant": None if _missing(variant) else variant, "dataset": dataset, "labels": None if pd.isna(labels) else int(labels),
                    "n_runs": len(values), "seeds": ",".join(map(str, seeds)), "mean": float(values.mean()),
                    "std": float(values.std(ddof=1)) if len(values) > 1 else float("nan")})
    return pd.DataFrame(out, columns=columns)


def _format_published(method: str, dataset: str | None, labels: int | None) -> tuple[str, str]:
    """(published error on this data set, published numbers on the paper's data sets with the same
    label count when this data set has none)."""
    same = published_for(method, dataset, labels) if labels is not None else []
    if same:
        return "; ".join(p.label() + (f" ({p.variant})" if p.variant else "") for p in same), ""
    other = [p for p in published_for(method, None, labels)] if labels is not None else []
    text = "; ".join(f"{p.label()} ({p.dataset}" + (f", {p.variant}" if p.variant else "") + ")" for p in other)
    return "", text


def results_table(runs: pd.DataFrame, metric: str = "test_error") -> pd.DataFrame:
    """The papers' kind of table: one row per method x data set x label count with the test error
    (%) as mean ± std over the runs, and the published number of the paper beside it.

    Columns: ``method, variant, dataset, labels, n_runs, seeds, mean, std, error`` (``"12.34 ± 0.56"``),
    ``published`` (the paper's error on the same data set and label count, from
    :mod:`ssl_pipelines.published`), ``published_other`` (when the data set has none: the paper's
    numbers with the same label count on its own data sets — a reference, not a like-for-like
    comparison).
    """
    agg = aggregate(runs, metric)
    if agg.empty:
        return agg.assign(error=[], published=[], published_other=[])
    agg["error"] = [f"{m:.2f}" + ("" if math.isnan(s) else f" ± {s:.2f}") for m, s in zip(agg["mean"], agg["std"])]
    pub = [_format_published(m, d, lab) for m, d, lab in zip(agg["method"], agg["dataset"], agg["labels"])]
    agg["published"] = [p[0] for p in pub]
    agg["published_other"] = [p[1] for p in pub]
    return agg.sort_values(["dataset", "labels", "mean", "method", "variant"], na_position="last").reset_index(drop=True)


def to_markdown(table: pd.DataFrame, columns: Sequence[str] | None = None,
                headers: Sequence[str] | None = None) -> str:
    """A GitHub Markdown table of ``table`` (no extra dependency)."""
    if columns is None:
        columns = ["method", "dataset", "labels", "n_runs", "seeds", "error", "published", "published_other"]
        headers = ["method", "data set", "labels", "runs", "seeds", "test error % (mean ± std)",
                   "published error % (same data)", "published error % (paper's data)"]
        if "variant" in table.columns and table["variant"].notna().any():  # a sweep with --variant
            columns.insert(1, "variant")
            headers.insert(1, "variant")
    headers = list(headers or columns)
    columns = [c for c in columns if c in table.columns]
    headers = headers[: len(columns)]

    def cell(value) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
            return "–"
        text = str(value).replace("|", "\\|")
        return text if text else "–"

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for _, row in table.iterrows():
        lines.append("| " + " | ".join(cell(row[c]) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def table_figure(table: pd.DataFrame, title: str = "Test error (%) per method and label count"):
    """The results table as a matplotlib Figure (for a PNG next to the Markdown)."""
    from matplotlib.figure import Figure

    columns = ["method", "dataset", "labels", "n_runs", "error", "published", "published_other"]
    headers = ["method", "data set", "labels", "runs", "test error %", "published % (same data)",
               "published % (paper's data)"]
    cells = [["–" if (v is None or (isinstance(v, float) and math.isnan(v)) or v == "") else str(v)
              for v in row] for row in table[columns].itertuples(index=False)] or [["–"] * len(columns)]
    fig = Figure(figsize=(13, 0.45 * (len(cells) + 2) + 0.6))
    ax = fig.add_subplot(111)
    ax.axis("off")
    tab = ax.table(cellText=cells, colLabels=headers, loc="center", cellLoc="center")
    tab.auto_set_font_size(False)
    tab.set_fontsize(9)
    tab.scale(1, 1.3)
    for (r, _), c in tab.get_celld().items():
        if r == 0:
            c.set_text_props(weight="bold")
    ax.set_title(title)
    return fig


def errors_figure(runs: pd.DataFrame, table: pd.DataFrame,
                  title: str = "Test error (%) per method: each seed, mean ± std, published"):
    """One panel per data set x label count: each run's test error as a point (x = method, sorted
    by mean), the mean ± std as a bar, and the papers' numbers (from :mod:`ssl_pipelines.published`)
    as stars: filled for the same data set, hollow (with the paper's data set named) otherwise."""
    from matplotlib.figure import Figure

    groups = [] if table.empty else list(table.groupby(["dataset", "labels"], dropna=False, sort=True))
    fig = Figure(figsize=(max(6.0, 1.1 * max((len(g) for _, g in groups), default=4) + 2), 3.8 * max(1, len(groups))))
    if not groups:
        ax = fig.add_subplot(111)
        ax.text(0.5, 0.5, "no finished runs with a test error", ha="center", va="center")
        ax.axis("off")
        return fig
    for i, ((dataset, labels), rows) in enumerate(groups, 1):
        ax = fig.add_subplot(len(groups), 1, i)
        rows = rows.sort_values("mean")
        lab = None if pd.isna(labels) else int(labels)
        other_seen = False
        for x, row in enumerate(rows.itertuples(index=False)):
            variant = getattr(row, "variant", None)
            same_variant = (runs["variant"].isna() if _missing(variant) else runs["variant"] == variant) \
                if "variant" in runs.columns else True
            mine = runs[(runs["method"] == row.method) & same_variant & (runs["dataset"] == dataset)
                        & (runs["labels"].astype("Int64") == labels)].dropna(subset=["test_error"])
            jitter = np.linspace(-0.12, 0.12, len(mine)) if len(mine) > 1 else np.zeros(len(mine))
            ax.scatter(x + jitter, mine["test_error"], s=18, color="tab:blue", alpha=0.7, zorder=3,
                       label="one run (seed)" if x == 0 else None)
            std = 0.0 if math.isnan(row.std) else row.std
            ax.errorbar([x], [row.mean], yerr=[std], fmt="_", markersize=22, color="black", capsize=4, zorder=4,
                        label="mean ± std" if x == 0 else None)
            for p in published_for(row.method, None, lab) if lab is not None else []:
                same = canonical_dataset(p.dataset) == dataset
                ax.scatter([x + 0.25], [p.error], marker="*", s=90, zorder=5, color="tab:red",
                           facecolors="tab:red" if same else "none",
                           label=("published (same data)" if same else
                                  ("published, paper's data set" if not other_seen else None)))
                if not same:
                    other_seen = True
                    ax.annotate(p.dataset, (x + 0.3, p.error), fontsize=7, color="tab:red")
        names = display_names(rows)
        ax.set_xticks(range(len(rows)), [f"{m}\nn={n}" for m, n in zip(names, rows["n_runs"])], fontsize=8)
        ax.set_ylabel("test error %")
        ax.set_title(f"{dataset}, {lab} labels" if i > 1 or len(groups) > 1 else f"{title}\n{dataset}, {lab} labels",
                     fontsize=10)
        ax.grid(alpha=0.3, axis="y")
        handles, names = ax.get_legend_handles_labels()
        uniq = dict(zip(names, handles))
        ax.legend(uniq.values(), uniq.keys(), fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def error_vs_labels_figure(runs: pd.DataFrame, title: str = "Test error vs number of labels"):
    """Mean test error (± std over seeds) against the label count, one line per method x data set
    (log x axis), each run as a faint point; ``None`` when the runs have fewer than two label counts."""
    from matplotlib.figure import Figure

    done = runs.dropna(subset=["test_error", "labels"])
    if done["labels"].nunique() < 2:
        return None
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot(111)
    done = done.assign(method=display_names(done))
    for (method, dataset), grp in done.groupby(["method", "dataset"], dropna=False, sort=True):
        stats = grp.groupby("labels")["test_error"].agg(["mean", "std"]).sort_index()
        (line,) = ax.plot(stats.index, stats["mean"], marker="o", label=f"{method} ({dataset})")
        ax.fill_between(stats.index, stats["mean"] - stats["std"].fillna(0), stats["mean"] + stats["std"].fillna(0),
                        color=line.get_color(), alpha=0.15)
        ax.scatter(grp["labels"], grp["test_error"], s=8, color=line.get_color(), alpha=0.4)
    ax.set_xscale("log")
    ax.set_xlabel("labels (total)")
    ax.set_ylabel("test error %")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def figures(runs: pd.DataFrame, table: pd.DataFrame, tracking_uri: str | None = None) -> dict:
    """The report's figures by file name: ``results.png`` (:func:`errors_figure`),
    ``learning_curves.png`` and, with several label counts, ``error_vs_labels.png``."""
    out = {"results.png": errors_figure(runs, table),
           "learning_curves.png": learning_curves_all_figure(load_curves(runs, tracking_uri))}
    by_labels = error_vs_labels_figure(runs)
    if by_labels is not None:
        out["error_vs_labels.png"] = by_labels
    return out


def load_curves(runs: pd.DataFrame, tracking_uri: str | None = None, suffix: str = "val_accuracy") -> pd.DataFrame:
    """Per-epoch curves of every run: all metrics named ``<stage>.<suffix>`` (e.g.
    ``supervised.val_accuracy``; ``test.*`` / ``validation.*`` excluded), stages chained in the
    order they were logged, as long-format rows ``run_id, method, dataset, labels, seed, stage,
    epoch`` (0-based over the whole run) ``, value``."""
    client = _client(tracking_uri)
    rows = []
    for run in runs.itertuples(index=False):
        keys = [k for k in client.get_run(run.run_id).data.metrics
                if k.endswith("." + suffix) and not k.startswith(("test.", "validation."))]
        points = []
        for key in keys:
            for m in client.get_metric_history(run.run_id, key):
                points.append((m.timestamp, m.step, key[: -len(suffix) - 1], m.value))
        points.sort(key=lambda p: (p[0], p[1]))
        for epoch, (_, _, stage, value) in enumerate(points):
            rows.append({"run_id": run.run_id, "method": display_names(pd.DataFrame([run._asdict()]))[0],
                         "dataset": run.dataset, "labels": run.labels,
                         "seed": run.seed, "stage": stage, "epoch": epoch, "value": value})
    return pd.DataFrame(rows, columns=["run_id", "method", "dataset", "labels", "seed", "stage", "epoch", "value"])


def runs_per_epoch_text(counts: pd.Series) -> str:
    """How many runs each epoch's mean is over: ``"n=3"``, or ``"n=3, n=1 from epoch 20"`` when
    some runs are longer than others (a mean over fewer runs past that epoch)."""
    counts = counts.astype(int)
    parts, previous = [], None
    for epoch, n in counts.items():
        if n != previous:
            parts.append(f"n={n}" if previous is None else f"n={n} from epoch {epoch}")
            previous = n
    return ", ".join(parts)


def learning_curves_all_figure(curves: pd.DataFrame, ylabel: str = "validation accuracy",
                               title: str = "Learning curves of all methods (mean ± std over seeds)"):
    """Every method's curve on one plot: one line per method x data set x label count (mean over
    seeds, shaded ± std; the legend gives the number of runs behind each epoch's mean)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5))
    ax = fig.add_subplot(111)
    if curves.empty:
        ax.text(0.5, 0.5, "no per-epoch curves logged", ha="center", va="center")
    for (method, dataset, labels), grp in curves.groupby(["method", "dataset", "labels"], sort=True):
        wide = grp.pivot_table(index="epoch", columns="run_id", values="value")
        mean, std = wide.mean(axis=1), wide.std(axis=1, ddof=1).fillna(0.0)
        (line,) = ax.plot(wide.index, mean, marker="o" if len(wide) <= 30 else None, markersize=4,
                          label=f"{method} ({dataset}, {labels} labels, {runs_per_epoch_text(wide.count(axis=1))})")
        ax.fill_between(wide.index, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    ax.set_xlabel("epoch (all stages chained)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if not curves.empty:
        ax.legend(fontsize=8)
    return fig


def write_report(out_dir, tracking_uri: str | None = None, experiment: str = DEFAULT_EXPERIMENT, *,
                 parent_run_id: str | None = None, num_classes: int = 10, all_runs: bool = False) -> dict:
    """Write ``results.md``, ``results.csv``, the :func:`figures` to ``out_dir``; returns their
    paths, the table and which runs were used (``"parent_run_id"``).

    Runs: those of the sweep ``parent_run_id``; by default the newest sweep; ``all_runs=True``
    (or no sweep in the experiment) every method run, refused by :func:`check_budgets` if runs of
    one table row were trained with different budgets.
    """
    from pathlib import Path

    if parent_run_id is None and not all_runs:
        parent_run_id = latest_sweep(tracking_uri, experiment)
    runs = load_runs(tracking_uri, experiment, parent_run_id=parent_run_id, num_classes=num_classes)
    check_budgets(runs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = results_table(runs)
    md = to_markdown(table)
    (out / "results.md").write_text(md)
    table.to_csv(out / "results.csv", index=False)
    files = [out / "results.md", out / "results.csv"]
    for name, fig in figures(runs, table, tracking_uri).items():
        fig.savefig(out / name, dpi=110, bbox_inches="tight")
        files.append(out / name)
    return {"markdown": md, "table": table, "runs": runs, "files": files, "parent_run_id": parent_run_id}


def expand_grid(pipelines: Iterable[str], seeds: Iterable[int], labels: Iterable[int | None]) -> list[tuple]:
    """Every (pipeline, labels, seed) of a sweep, in run order."""
    return [(p, lab, s) for p in pipelines for lab in labels for s in seeds]


__all__ = ["load_runs", "run_budget", "latest_sweep", "check_budgets", "aggregate", "results_table", "to_markdown",
           "table_figure", "errors_figure", "error_vs_labels_figure", "figures", "load_curves",
           "runs_per_epoch_text", "learning_curves_all_figure", "write_report", "expand_grid"]

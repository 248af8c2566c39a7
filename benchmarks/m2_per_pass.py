"""M2 per pass over the unlabeled data (issue 20): the `m2` pipeline on real MNIST, one
`ssl-pipelines sweep` whose children are (configuration, seed), test accuracy
after every pass (`evaluation.curve_every: 1`, MLflow metric `m2.test_accuracy` with the pass as its
step), then a table of accuracy by pass read back from the MLflow store.

One sweep, one parent run; a child per (configuration, seed), each configuration a `--variant`.

Protocol: MNIST IDX files (`--data-path`, e.g. ../shared/data/mnist), 100 labels = 10 per class
drawn by the pipeline's seeded balanced split over all 60,000 training images, the other 59,900
unlabeled, no validation set, the full 10,000-image test set. A fixed number of passes (epochs of
599 steps of 10 labeled + 100 unlabeled images), so the comparison does not depend on the load of
the machine; one TensorFlow thread per run (`runtime.threads=1`).

    nice -n 10 .venv/bin/python benchmarks/m2_per_pass.py --data-path ../shared/data/mnist \\
        --variants base,mean_weighting,kl_sample,softplus_logvar,glorot_normal --seeds 0,1 --passes 6
    .venv/bin/python benchmarks/m2_per_pass.py --summary   # the table of every configuration in the store

Each configuration is a set of `m2.*` parameters on top of `BASE` (the RESULTS.md settings: one
hidden layer of 500 softplus units, z = 50, alpha 3, Adam 1e-3, dynamic binarization, batches
10 + 100, the paper's Eq. 9 weighting).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from common import params_text, store_uri

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
EXPERIMENT = "m2_per_pass"
RUN_PREFIX = "m2-per-pass-"

#: the RESULTS.md M2 settings (issue 20: "our reported settings")
BASE = {
    "m2.data.name": "idx", "m2.data.validation_per_class": 0, "m2.data.max_unlabeled": None,
    "m2.model.hidden_units": [500], "m2.model.classifier_hidden_units": [500], "m2.model.latent_dim": 50,
    "m2.model.activation": "softplus", "m2.model.binarize": True, "m2.model.alpha": 3.0,
    "m2.model.kernel_init_std": None,
    "m2.train.batch_labeled": 10, "m2.train.batch_unlabeled": 100, "m2.train.optimizer.learning_rate": 0.001,
    "m2.train.verbose": 0, "m2.evaluation.curve_every": 1, "m2.evaluation.curve_unit": "epoch",
    "runtime.threads": 1,
}

#: one difference at a time from BASE (issue 20's list), then combinations
VARIANTS = {
    "base": {},
    "mean_weighting": {"m2.model.bound_weighting": "mean"},
    "kl_sample": {"m2.model.kl": "sample"},
    "softplus_logvar": {"m2.model.log_var_activation": "softplus"},
    "glorot_normal": {"m2.model.kernel_initializer": "glorot_normal"},
    "fixed_binarization": {"m2.model.binarize_labeled": "fixed"},
    "mean_weighting_relu": {"m2.model.bound_weighting": "mean", "m2.model.activation": "relu"},
    # the classification weight (beta = alpha N / N_l bound terms per labeled cross-entropy)
    "alpha10": {"m2.model.alpha": 10.0},
    "alpha30": {"m2.model.alpha": 30.0},
    "lr3e-4": {"m2.train.optimizer.learning_rate": 0.0003},
    # the PyTorch M2 of issue 20 (wohlert/semi-supervised-pytorch): J = mean L + mean U + alpha mean CE,
    # alpha = 0.1 N_u / N_l = 59.9, z = 32, [256, 128] ReLU, classifier [256], batches 64 + 64, Adam 3e-4
    "pytorch_settings": {"m2.model.bound_weighting": "mean", "m2.model.alpha": 59.9, "m2.model.latent_dim": 32,
                         "m2.model.hidden_units": [256, 128], "m2.model.classifier_hidden_units": [256],
                         "m2.model.activation": "relu", "m2.train.batch_labeled": 64, "m2.train.batch_unlabeled": 64,
                         "m2.train.optimizer.learning_rate": 0.0003, "m2.model.log_var_activation": "softplus"},
    # combinations with the softplus log-variance (variance >= 1: z cannot carry the class, p(x|y,z) must use y)
    "softplus_alpha10": {"m2.model.log_var_activation": "softplus", "m2.model.alpha": 10.0},
    "softplus_mean_weighting": {"m2.model.log_var_activation": "softplus", "m2.model.bound_weighting": "mean"},
    "softplus_relu": {"m2.model.log_var_activation": "softplus", "m2.model.activation": "relu"},
    "softplus_lr3e-4": {"m2.model.log_var_activation": "softplus", "m2.train.optimizer.learning_rate": 0.0003},
    # for a time budget: the learning rate constant for the first half of the budget, then linear to 0
    # (train.lr_decay_start with train.wall_minutes / cpu_minutes decays over the budget)
    "softplus_relu_decay": {"m2.model.log_var_activation": "softplus", "m2.model.activation": "relu",
                            "m2.train.lr_decay_start": 0.5},
    "softplus_decay": {"m2.model.log_var_activation": "softplus", "m2.train.lr_decay_start": 0.5},
    # + the classification weight of softplus_alpha10 (+0.7 points at pass 5 over softplus alone)
    "softplus_relu_decay_alpha10": {"m2.model.log_var_activation": "softplus", "m2.model.activation": "relu",
                                    "m2.train.lr_decay_start": 0.5, "m2.model.alpha": 10.0},
}


def sweep_command(variants: list[str], seeds: str, passes: int, data_path: str, run_name: str,
                  wall_minutes: float | None = None, threads: int = 1) -> list[str]:
    """One `ssl-pipelines sweep`: a parent run, a child per (variant, seed), BASE as --params; with
    ``wall_minutes`` each run trains for that long on the wall clock (``passes`` the upper bound)."""
    params = {**BASE, "m2.data.path": data_path, "m2.train.epochs": passes, "runtime.threads": threads}
    if wall_minutes is not None:
        params["m2.train.wall_minutes"] = wall_minutes
    cmd = [str(REPO / ".venv/bin/ssl-pipelines"), "sweep", "--pipelines", "m2", "--seeds", seeds, "--labels", "100",
           "--experiment", EXPERIMENT, "--run-name", run_name, "--params", params_text(params)]
    for v in variants:
        cmd += ["--variant", f"{v}:{params_text(VARIANTS[v])}" if VARIANTS[v] else f"{v}:"]
    return cmd


def summary(tracking_uri: str) -> str:
    """Accuracy by pass (mean ± sample std over seeds) of every variant of every m2-per-pass sweep in
    the store (one row per parent run and variant; a parent without variants is one row)."""
    import mlflow
    import numpy as np

    client = mlflow.MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(EXPERIMENT)
    if exp is None:
        return f"no experiment {EXPERIMENT!r} in {tracking_uri}"
    parents = client.search_runs([exp.experiment_id], f"tags.mlflow.runName LIKE '{RUN_PREFIX}%'",
                                 order_by=["attributes.start_time ASC"])
    marks = (1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30)
    lines = ["| configuration | parent run | seeds | " + " | ".join(f"pass {m}" for m in marks) + " | img/s |",
             "|---|---|---|" + "---|" * len(marks) + "---|"]
    for parent in parents:
        rows: dict[str, dict] = {}
        for child in client.search_runs([exp.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
                                        order_by=["attributes.start_time ASC"]):
            if child.info.status != "FINISHED":
                continue
            name = child.data.tags.get("variant") or parent.data.tags.get("mlflow.runName", "")[len(RUN_PREFIX):]
            row = rows.setdefault(name, {"curves": [], "speeds": [], "seeds": []})
            points = client.get_metric_history(child.info.run_id, "m2.test_accuracy")
            row["curves"].append({p.step: p.value for p in points})
            speeds = [p.value for p in client.get_metric_history(child.info.run_id, "m2.images_per_second")]
            row["speeds"].extend(speeds[1:] or speeds)  # the first epoch traces the step
            row["seeds"].append(child.data.tags.get("seed", "?"))
        for name, row in rows.items():
            cells = []
            for m in marks:
                values = [100.0 * c[m] for c in row["curves"] if m in c]
                if len(values) < len(row["curves"]):
                    cells.append("")
                else:
                    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
                    cells.append(f"{np.mean(values):.2f} ± {std:.2f}")
            speed = f"{np.median(row['speeds']):.0f}" if row["speeds"] else ""
            lines.append(f"| {name} | `{parent.info.run_id[:8]}` | {','.join(sorted(row['seeds']))} | "
                         + " | ".join(cells) + f" | {speed} |")
    return "\n".join(lines)


def summary_by_minute(tracking_uri: str, marks=(1, 2, 3, 4, 5, 6, 7, 8)) -> str:
    """Test accuracy at each minute mark of training (the last curve point at or before it; the
    curve's `m2.train_minutes`, logged with a time budget) of every wall-clock sweep in the store."""
    import mlflow
    import numpy as np

    client = mlflow.MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(EXPERIMENT)
    if exp is None:
        return ""
    lines = ["| configuration | parent run | seeds | " + " | ".join(f"{m} min" for m in marks)
             + " | passes | final test accuracy % | img/s |", "|---|---|---|" + "---|" * len(marks) + "---|---|---|"]
    for parent in client.search_runs([exp.experiment_id], f"tags.mlflow.runName LIKE '{RUN_PREFIX}%'",
                                     order_by=["attributes.start_time ASC"]):
        rows: dict[str, dict] = {}
        for child in client.search_runs([exp.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"):
            minutes = client.get_metric_history(child.info.run_id, "m2.train_minutes")
            if child.info.status != "FINISHED" or not minutes:
                continue
            acc = {p.step: p.value for p in client.get_metric_history(child.info.run_id, "m2.test_accuracy")}
            at = sorted((p.value, acc[p.step]) for p in minutes if p.step in acc)
            row = rows.setdefault(child.data.tags.get("variant") or "-", {"at": [], "seeds": [], "passes": [],
                                                                         "speeds": []})
            row["at"].append(at)
            row["seeds"].append(child.data.tags.get("seed", "?"))
            row["passes"].append(len(at))
            speeds = [p.value for p in client.get_metric_history(child.info.run_id, "m2.images_per_second")]
            row["speeds"].extend(speeds[1:] or speeds)
            final = child.data.metrics.get("test.accuracy")
            row.setdefault("final", []).append(100.0 * final if final is not None else np.nan)
        for name, row in rows.items():
            cells = []
            for m in marks:
                values = [100.0 * ([a for t, a in at if t <= m + 1e-9] or [np.nan])[-1] for at in row["at"]]
                if any(np.isnan(values)):
                    cells.append("")
                else:
                    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
                    cells.append(f"{np.mean(values):.2f} ± {std:.2f}")
            final = row["final"]
            final_text = f"{np.mean(final):.2f} ± {np.std(final, ddof=1) if len(final) > 1 else 0.0:.2f}"
            lines.append(f"| {name} | `{parent.info.run_id[:8]}` | {','.join(sorted(row['seeds']))} | "
                         + " | ".join(cells) + f" | {min(row['passes'])}-{max(row['passes'])} | {final_text} | "
                         f"{np.median(row['speeds']):.0f} |")
    return "\n".join(lines) if len(lines) > 2 else ""


SECTION = "m2_per_pass"


def render_section(tracking_uri: str) -> str:
    """The RESULTS.md section: prose (benchmarks/sections/m2_per_pass.md), every sweep's parent run id
    and exact command (its `sweep.command` tag), the by-pass table and the by-minute table, all read
    from the store (the same store writes the same bytes)."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(EXPERIMENT)
    parents = [] if exp is None else client.search_runs(
        [exp.experiment_id], f"tags.mlflow.runName LIKE '{RUN_PREFIX}%'", order_by=["attributes.start_time ASC"])
    prose = HERE / "sections" / f"{SECTION}.md"
    out = [f"<!-- section: {SECTION} -->", "### M2 per pass and at equal wall time, MNIST, 100 labels (pipeline run, issue 20)",
           ""]
    if prose.exists():
        out += [prose.read_text().rstrip("\n"), ""]
    out += ["Sweeps (MLflow experiment `m2_per_pass`; parent run, then its exact command):", ""]
    for parent in parents:
        command = parent.data.tags.get("sweep.command")
        name = parent.data.tags.get("mlflow.runName", "")
        out.append(f"* `{parent.info.run_id}` ({name}): " + (f"`{command}`" if command else
                                                              "(one sweep per configuration, by the first driver: see above)"))
    out += ["", "Test accuracy % after each pass over the 59,900 unlabeled images (mean ± sample std over the seeds):",
            "", summary(tracking_uri)]
    by_minute = summary_by_minute(tracking_uri)
    if by_minute:
        out += ["", "Test accuracy % after N minutes of training wall time (evaluation not counted; "
                    "the last curve point at or before each mark):", "", by_minute]
    out += [f"<!-- end: {SECTION} -->", ""]
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-path", default=str(REPO.parent / "shared/data/mnist"))
    parser.add_argument("--variants", default="base", help=f"comma-separated, of {sorted(VARIANTS)}")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--passes", type=int, default=6, help="epochs = passes over the 59,900 unlabeled images")
    parser.add_argument("--wall-minutes", type=float, default=None,
                        help="train each run this long on the wall clock (train.wall_minutes; --passes the upper bound)")
    parser.add_argument("--threads", type=int, default=1, help="runtime.threads of every run")
    parser.add_argument("--tracking-uri", default=None, help="default: benchmarks/stores/m2_per_pass.db")
    parser.add_argument("--run-name", default=None, help=f"parent run name (default {RUN_PREFIX}<n>variants-<p>p)")
    parser.add_argument("--summary", action="store_true", help="only print the tables from the store")
    parser.add_argument("--write", default=None, metavar="FILE",
                        help=f"write the section {SECTION!r} into FILE (benchmarks/RESULTS.md) from the store")
    args = parser.parse_args(argv)
    uri = args.tracking_uri or store_uri("m2_per_pass")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    if not args.summary:
        unknown = [v for v in args.variants.split(",") if v not in VARIANTS]
        if unknown:
            parser.error(f"unknown variants {unknown}; expected some of {sorted(VARIANTS)}")
        data_path = str(Path(args.data_path).resolve())
        if not Path(data_path, "train-images-idx3-ubyte.gz").exists():
            parser.error(f"--data-path {args.data_path!r} holds no MNIST IDX files (train-images-idx3-ubyte.gz)")
        variants = args.variants.split(",")
        default_name = (f"{RUN_PREFIX}{args.wall_minutes:g}min-{args.threads}threads" if args.wall_minutes
                        else f"{RUN_PREFIX}{len(variants)}variants-{args.passes}p")
        cmd = sweep_command(variants, args.seeds, args.passes, data_path, args.run_name or default_name,
                            wall_minutes=args.wall_minutes, threads=args.threads)
        print("$", " ".join(cmd), flush=True)
        if subprocess.call(cmd, cwd=REPO):
            print("the sweep had a failed run", file=sys.stderr)
    print(summary(uri))
    by_minute = summary_by_minute(uri)
    if by_minute:
        print("\n" + by_minute)
    if args.write:
        from ssl_pipelines.reporting_sections import replace_section

        path = Path(args.write)
        path.write_text(replace_section(path.read_text() if path.exists() else "", SECTION, render_section(uri)))
        print(f"wrote section {SECTION} of {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

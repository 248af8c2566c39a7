"""All methods side by side, as a user compares them: one `ssl-pipelines sweep` over the chosen
pipelines, seeds and label counts (parent + child MLflow runs), then the results table.

Runs in a throw-away copy of the project (its own MLflow store under benchmarks/runs/), writes
``benchmarks/runs/comparison-<time>.json`` and prints the Markdown table.

    nice -n 10 .venv/bin/python benchmarks/comparison.py --seeds 0,1,2 --labels 100 --epochs 3
    nice -n 10 .venv/bin/python benchmarks/comparison.py --pipelines m2,m1_m2 --env paper \\
        --params data.path=/work/shared/data/mnist --epochs 5

`--epochs` sets `epochs` of every training stage of every pipeline (a reduced, equal budget; the
defaults of each pipeline when omitted).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipelines", default=None, help="comma-separated (default: every registered pipeline)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--labels", default="100", help="total label counts, comma-separated")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of every stage (default: each pipeline's)")
    parser.add_argument("--params", default="train.verbose=0", help="extra key=value,... (see ssl-pipelines sweep)")
    parser.add_argument("--data-path", default=None, help="sets data.path of every pipeline (e.g. MNIST IDX folder)")
    parser.add_argument("--env", default=None, help="Kedro env, e.g. paper")
    parser.add_argument("--keep-going", action="store_true", default=True)
    args = parser.parse_args(argv)

    import os

    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
    from ssl_pipelines.cli import available_pipelines, parse_int_list, parse_params, run_sweep
    from ssl_pipelines.reporting import to_markdown

    stamp = time.strftime("%Y%m%d-%H%M%S")
    work = HERE / "runs" / f"comparison-{stamp}"
    work.mkdir(parents=True)
    for item in ("conf", "pyproject.toml"):
        src = REPO / item
        (shutil.copytree(src, work / item, ignore=shutil.ignore_patterns("local")) if src.is_dir()
         else shutil.copy(src, work / item))
    (work / "conf" / "local").mkdir(exist_ok=True)
    (work / "src").mkdir()
    uri = f"sqlite:///{work / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri

    pipelines = args.pipelines.split(",") if args.pipelines else available_pipelines()
    overrides = parse_params(args.params)
    if args.data_path:
        overrides["data.path"] = args.data_path
    start = time.time()
    result = run_sweep(pipelines, parse_int_list(args.seeds, "seeds"), parse_int_list(args.labels, "labels"),
                       project_path=work, env=args.env, epochs=args.epochs, overrides=overrides,
                       keep_going=args.keep_going, run_name=f"comparison-{stamp}", report_dir=work / "reports")
    table = result["table"]
    payload = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "seeds": args.seeds,
               "labels": args.labels, "epochs": args.epochs, "env": args.env or "base", "tracking_uri": uri,
               "parent_run_id": result["parent_run_id"], "wall_seconds": round(time.time() - start, 1),
               "children": result["children"], "table": json.loads(table.to_json(orient="records"))}
    out = HERE / "runs" / f"comparison-{stamp}.json"
    out.write_text(json.dumps(payload, indent=2, default=str))
    print(to_markdown(table))
    print(f"wall time {payload['wall_seconds']} s; results {out}; reports {work / 'reports'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

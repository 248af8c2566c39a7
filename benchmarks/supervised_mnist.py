"""Supervised-only baseline on real MNIST with few labels (the floor of Kingma et al. 2014
Table 1: a 100-label neural network at 25.81% error).

Runs the `supervised` pipeline's node functions (same code as `kedro run --pipelines=supervised`)
for several seeds and prints a Markdown table of test error (%).

    nice -n 10 .venv/bin/python benchmarks/supervised_mnist.py --seeds 0 1 2 --labels-per-class 10
"""

from __future__ import annotations

import argparse
import time

from common import SHARED_DATA, mean_std, save_result

from ssl_pipelines.pipelines.common_nodes import evaluate_classifier, load_dataset, split_labeled_unlabeled
from ssl_pipelines.pipelines.supervised.nodes import train_supervised


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--labels-per-class", type=int, default=10)
    ap.add_argument("--data", default=str(SHARED_DATA / "mnist"), help="folder of MNIST IDX files")
    ap.add_argument("--backbone", default="mlp")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--steps-per-epoch", type=int, default=10)
    args = ap.parse_args()

    data_params = {"name": "idx", "path": args.data, "labels_per_class": args.labels_per_class,
                   "validation_per_class": 0}
    model_params = {"backbone": args.backbone,
                    "backbone_kwargs": {"hidden_units": [500, 500], "dropout": 0.5} if args.backbone == "mlp" else {}}
    train_params = {"epochs": args.epochs, "steps_per_epoch": args.steps_per_epoch, "batch_size": 32,
                    "optimizer": {"name": "adam", "learning_rate": 1e-3},
                    "augment": None, "verbose": 0}
    rows = []
    for seed in args.seeds:
        t0 = time.time()
        ds = load_dataset(data_params, seed)
        split, _, _ = split_labeled_unlabeled(ds, data_params, seed)
        model, history = train_supervised(split, model_params, train_params, seed)
        metrics, _, report, _ = evaluate_classifier(model, split, {})
        rows.append({"seed": seed, "error": report["error"], "seconds": time.time() - t0})
        print(f"seed {seed}: test error {report['error']:.2f}%  ({rows[-1]['seconds']:.0f} s)", flush=True)
    errors = [r["error"] for r in rows]
    path = save_result("supervised_mnist", {"args": vars(args), "rows": rows})
    print(f"\n| model | labels | seeds | test error % | paper |\n|---|---|---|---|---|\n"
          f"| {args.backbone} | {10 * args.labels_per_class} | {len(rows)} | {mean_std(errors)} | 25.81 (NN, Kingma et al. Table 1) |")
    print(f"results: {path}")


if __name__ == "__main__":
    main()

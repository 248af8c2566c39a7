"""Benchmark: SSL via deep-network inversion vs. the same network trained with cross-entropy only
(alpha = 1) on the same split (METHODS.md §2.4, §6; issue 4).

Runs by hand (not a test). Example (the RESULTS.md numbers):

    nice -n 10 .venv/bin/python benchmarks/inversion.py --labels 50 100 --seeds 0 1 2 \
        --configs 0.6,0.5 --steps 600

Each (labels, seed) trains the baseline (``SupervisedClassifier``: CE on the labeled part of the
same stream, identical to ``InversionSSL(alpha=1)``, see tests/test_inversion_method.py) and one
``InversionSSL`` per ``alpha,beta`` config, from the same initial weights and the same labeled
stream. ``--timing`` also measures the step-time ratio inversion / plain on one batch.
Writes ``benchmarks/runs/inversion_<time>.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MNIST = ROOT.parent / "shared" / "data" / "mnist"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="idx", help="idx (MNIST folder) | digits | npz")
    p.add_argument("--data-path", default=str(DEFAULT_MNIST))
    p.add_argument("--labels", type=int, nargs="+", default=[50, 100], help="total labeled examples (balanced)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--configs", nargs="+", default=["0.6,0.5"], help="alpha,beta pairs for InversionSSL")
    p.add_argument("--cotangent", default="softmax")
    p.add_argument("--normalization", default="standardize", help="unit | center | standardize (per channel)")
    p.add_argument("--unsupervised-on", default="unlabeled")
    p.add_argument("--distance", default="mse", help="reconstruction distance: mse | cosine")
    p.add_argument("--backbone", default="inv_small_cnn")
    p.add_argument("--backbone-kwargs", default='{"filters": [32, 64], "pooling": "max"}', help="JSON")
    p.add_argument("--steps", type=int, default=600, help="optimizer steps per run (the budget)")
    p.add_argument("--batch-labeled", type=int, default=32)
    p.add_argument("--batch-unlabeled", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.003)
    p.add_argument("--max-unlabeled", type=int, default=None, help="cap the unlabeled pool (None = all)")
    p.add_argument("--validation-per-class", type=int, default=0, help="held-out labeled images for model selection")
    p.add_argument("--max-test", type=int, default=None)
    p.add_argument("--skip-baseline", action="store_true")
    p.add_argument("--timing", action="store_true", help="measure the inversion/plain step-time ratio")
    p.add_argument("--tag", default="", help="free-text label stored in the JSON")
    return p.parse_args(argv)


def load(args, seed: int, labels: int):
    from ssl_pipelines import data

    kwargs = {"path": args.data_path} if args.data in ("idx", "npz") else {}
    if args.max_test:
        kwargs["max_test"] = args.max_test
    ds = data.load_dataset(args.data, **kwargs)
    ds, _ = data.preprocess_dataset(ds, normalization=args.normalization)
    n_classes = ds.num_classes
    if labels % n_classes:
        raise SystemExit(f"--labels {labels} is not a multiple of {n_classes} classes")
    return data.split_labeled_unlabeled(ds, labels_per_class=labels // n_classes, seed=seed,
                                        validation_per_class=args.validation_per_class or None,
                                        max_unlabeled=args.max_unlabeled)


def accuracy(model, x, y) -> float:
    from ssl_pipelines.evaluation import predict_logits

    return float((np.argmax(predict_logits(model, x, 512), -1) == y).mean()) if len(x) else float("nan")


def train_one(args, split, seed: int, alpha_beta=None) -> dict:
    import keras

    from ssl_pipelines import data, methods, models
    from ssl_pipelines.training import set_global_seed

    set_global_seed(seed)
    net = models.build_backbone(args.backbone, split.input_shape, split.num_classes, **json.loads(args.backbone_kwargs))
    if alpha_beta is None:
        model = methods.SupervisedClassifier(net)
    else:
        model = methods.InversionSSL(net, alpha=alpha_beta[0], beta=alpha_beta[1], cotangent=args.cotangent,
                                     unsupervised_on=args.unsupervised_on, reconstruction_distance=args.distance)
    model.compile(optimizer=keras.optimizers.Adam(args.lr))
    stream = data.ssl_stream(split.x_labeled, split.y_labeled, split.x_unlabeled,
                             batch_labeled=min(args.batch_labeled, len(split.x_labeled)),
                             batch_unlabeled=args.batch_unlabeled, seed=seed)
    t0 = time.time()
    hist = model.fit(stream, epochs=1, steps_per_epoch=args.steps, verbose=0)
    seconds = time.time() - t0
    return {
        "method": "cross_entropy_only" if alpha_beta is None else "inversion",
        "alpha": 1.0 if alpha_beta is None else alpha_beta[0],
        "beta": None if alpha_beta is None else alpha_beta[1],
        "test_accuracy": accuracy(model, split.x_test, split.y_test),
        "val_accuracy": accuracy(model, split.x_val, split.y_val),
        "train_seconds": seconds,
        "final_terms": {k: float(v[-1]) for k, v in hist.history.items()},
    }


def step_time_ratio(args, split, repeats: int = 30) -> dict:
    """Median wall time of one ``tf.function`` train step on the same SSL batch:

    - ``inversion``: ``InversionSSL`` (forward + differentiable backward for x_hat + outer backward);
    - ``plain``: a cross-entropy step over the same number of inputs (labeled + unlabeled, the
      unlabeled ones with dummy labels: timing only), i.e. the same forward/backward size;
    - ``baseline``: the CE-only baseline as trained here (labeled part only).
    """
    import keras
    import tensorflow as tf

    from ssl_pipelines import data, methods, models

    batch = next(iter(data.ssl_stream(split.x_labeled, split.y_labeled, split.x_unlabeled,
                                      batch_labeled=min(args.batch_labeled, len(split.x_labeled)),
                                      batch_unlabeled=args.batch_unlabeled, seed=0)))
    n_u = int(batch["x_unlabeled"].shape[0])
    plain = {"x_labeled": tf.concat([batch["x_labeled"], batch["x_unlabeled"]], 0),
             "y_labeled": tf.concat([batch["y_labeled"], tf.zeros((n_u,), batch["y_labeled"].dtype)], 0)}
    out = {}
    for name, b in (("plain", plain), ("baseline", batch), ("inversion", batch)):
        net = models.build_backbone(args.backbone, split.input_shape, split.num_classes, **json.loads(args.backbone_kwargs))
        model = methods.InversionSSL(net) if name == "inversion" else methods.SupervisedClassifier(net)
        model.compile(optimizer=keras.optimizers.Adam(args.lr))
        step = tf.function(model.train_step)
        for _ in range(3):
            step(b)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            float(step(b)["loss"])
            times.append(time.perf_counter() - t0)
        out[f"{name}_step_ms"] = 1000 * float(np.median(times))
    out["ratio_vs_plain"] = out["inversion_step_ms"] / out["plain_step_ms"]
    out["ratio_vs_baseline"] = out["inversion_step_ms"] / out["baseline_step_ms"]
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    configs = [tuple(float(v) for v in c.split(",")) for c in args.configs]
    results = {"args": vars(args), "command": " ".join(["benchmarks/inversion.py", *(argv or sys.argv[1:])]),
               "runs": [], "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out_dir = ROOT / "benchmarks" / "runs"
    out_dir.mkdir(parents=True, exist_ok=True)
    out_path = out_dir / f"inversion_{time.strftime('%Y%m%d_%H%M%S')}.json"
    for labels in args.labels:
        for seed in args.seeds:
            split = load(args, seed, labels)
            if args.timing and "timing" not in results:
                results["timing"] = step_time_ratio(args, split)
                print(f"step time: {results['timing']}", flush=True)
            todo = ([] if args.skip_baseline else [None]) + configs
            for ab in todo:
                r = train_one(args, split, seed, ab)
                r.update({"labels": labels, "seed": seed, "n_unlabeled": int(len(split.x_unlabeled)),
                          "n_test": int(len(split.x_test))})
                results["runs"].append(r)
                print(json.dumps({k: r[k] for k in ("labels", "seed", "method", "alpha", "beta", "test_accuracy",
                                                    "val_accuracy", "train_seconds")}), flush=True)
                out_path.write_text(json.dumps(results, indent=1))
    print(markdown_table(results["runs"]))
    print(f"results: {out_path}")
    return 0


def markdown_table(runs: list[dict]) -> str:
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["labels"], r["method"], r["alpha"], r["beta"]), []).append(r)
    lines = ["| labels | method | alpha | beta | seeds | test accuracy % (mean ± std) | val accuracy % | s/run |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for (labels, method, alpha, beta), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
        acc = 100 * np.array([r["test_accuracy"] for r in rs])
        val = 100 * np.array([r["val_accuracy"] for r in rs])
        val_s = "-" if np.isnan(val).all() else f"{val.mean():.2f}"
        lines.append(f"| {labels} | {method} | {alpha} | {'-' if beta is None else beta} | {len(rs)} | "
                     f"{acc.mean():.2f} ± {acc.std():.2f} | {val_s} | {np.mean([r['train_seconds'] for r in rs]):.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

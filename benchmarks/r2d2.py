"""Benchmark driver: R2-D2's three stages (supervised, D2 with repetitive reprediction, fine-tuning
on hard pseudo-labels) on real MNIST, 100 labels; or the poster's ablation (configs a..e of the
second stage, conf/base/parameters_r2d2.yml) on the CIFAR-10 JPEG copy.

One ``ssl-pipelines sweep`` of the ``r2d2`` pipeline (a ``--variant`` per ablation config), every
stage's test error logged by the pipeline (``stage_test.<stage>_error``) and its learning curve
(``evaluation.curve_every``, every 100 steps: ``supervised.`` / ``d2.`` / ``finetune.test_accuracy``);
then the RESULTS.md section ``r2d2_<dataset>``::

    .venv/bin/python benchmarks/r2d2.py                                # MNIST, config e, 3 seeds
    .venv/bin/python benchmarks/r2d2.py --dataset cifar10 --labels 4000 --configs a,e

The previous script's MNIST protocol: a seeded subset of 10,000 unlabeled images, Caffe LeNet,
translations of ±2 px; stage 1: 300 Adam steps (lr 1e-3, batch 32); stage 2 (config e): 2E = 8
epochs over the unlabeled subset (32 labeled + 96 unlabeled, SGD Nesterov 0.03), alpha 0.1,
beta 0.03, lambda 4000 at B_ref 512, repredictions after epochs 4, 5, 6, 7, lr x2/3, x1/3, x1/30
from epochs 5, 6, 7; stage 3: 2 epochs over all images (batch 128, SGD 0.0025). Each variant runs
its own stage 1 (the previous script shared one stage-1 network between configs).
"""

from __future__ import annotations

import sys

from common import SHARED_DATA, cifar10_path, choice_list, driver_arguments, run, sweep_command

CONFIGS = "abcde"


def d2_config(name: str, e: int, lr: float) -> dict:
    """The ``d2`` keys of ablation config ``name`` (a..e) for a pass of ``e`` epochs."""
    q = max(1, e // 4)
    marks = [e, e + q, e + 2 * q, e + 3 * q]
    cfg = {"d2.epochs": 2 * e if name != "a" else e, "d2.repredict_at": [], "d2.lr_schedule": []}
    if name in ("c", "e"):
        cfg["d2.repredict_at"] = sorted({m for m in marks if m < 2 * e})
    if name in ("d", "e"):
        cfg["d2.lr_schedule"] = [[m, round(lr * f, 6)] for m, f in zip(marks[1:], (2 / 3, 1 / 3, 1 / 30)) if m < 2 * e]
    return cfg


def main(argv=None) -> int:
    p = driver_arguments(__doc__, store="r2d2")
    p.add_argument("--dataset", choices=["mnist", "cifar10"], default="mnist")
    p.add_argument("--data-path", default=None, help="MNIST IDX folder / CIFAR-10 .npz (default: the shared copies)")
    p.add_argument("--labels", default=None, help="total labels (default 100 mnist, 4000 cifar10)")
    p.add_argument("--max-unlabeled", type=int, default=10000, help="seeded subset of the unlabeled images")
    p.add_argument("--configs", default="e", help="comma-separated ablation configs a..e (default e)")
    p.add_argument("--epochs-d2", type=int, default=4, help="E: epochs of one D2 pass")
    p.add_argument("--steps-supervised", type=int, default=300)
    p.add_argument("--epochs-finetune", type=int, default=2)
    p.add_argument("--lr-d2", type=float, default=0.03)
    p.add_argument("--run-name", default=None)
    args = p.parse_args(argv)
    configs = choice_list(p, args.configs, "--configs", list(CONFIGS))
    mnist = args.dataset == "mnist"
    if mnist:
        data = {"name": "idx", "path": args.data_path or str(SHARED_DATA / "mnist"), "normalization": "unit"}
        model = {"backbone": "lenet", "backbone_kwargs": {"filters": [20, 50], "dense_units": 500, "padding": "valid"}}
    else:
        data = {"name": "npz", "normalization": "standardize",
                "path": cifar10_path(args)}
        model = {"backbone": "resnet", "backbone_kwargs": {"depth": 8, "filters": None, "dense_units": None,
                                                           "padding": None}}
    augment = {"max_shift": 2, "flip": not mnist}
    sgd = lambda lr: {"name": "sgd", "learning_rate": lr, "momentum": 0.9, "nesterov": True}  # noqa: E731
    params = {**{f"r2d2.data.{k}": v for k, v in data.items()}, "r2d2.data.validation_per_class": 0,
              "r2d2.data.max_unlabeled": args.max_unlabeled, **{f"r2d2.model.{k}": v for k, v in model.items()},
              "r2d2.supervised.epochs": max(1, args.steps_supervised // 10), "r2d2.supervised.steps_per_epoch": 10,
              "r2d2.supervised.batch_size": 32, "r2d2.supervised.augment": augment, "r2d2.supervised.verbose": 0,
              "r2d2.d2.batch_labeled": 32, "r2d2.d2.batch_unlabeled": 96, "r2d2.d2.optimizer": sgd(args.lr_d2),
              "r2d2.d2.repredict_batch_size": 512, "r2d2.d2.augment": augment, "r2d2.d2.verbose": 0,
              "r2d2.finetune.epochs": args.epochs_finetune, "r2d2.finetune.batch_size": 128,
              "r2d2.finetune.optimizer": sgd(0.0025), "r2d2.finetune.repredict_batch_size": 512,
              "r2d2.finetune.augment": augment, "r2d2.finetune.verbose": 0,
              "r2d2.evaluation.curve_every": 100, "r2d2.evaluation.curve_unit": "step"}
    variants = {f"config_{c}": d2_config(c, args.epochs_d2, args.lr_d2) for c in configs}
    labels = args.labels or ("100" if mnist else "4000")
    return run(sweep_command(["r2d2"], args, labels=labels, run_name=args.run_name or f"bench-r2d2-{args.dataset}",
                             params=params, variants=variants), f"r2d2_{args.dataset}", args)


if __name__ == "__main__":
    sys.exit(main())

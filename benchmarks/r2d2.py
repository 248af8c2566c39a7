"""R2-D2 benchmark (METHODS.md §4): stage 1 vs stage 2 vs stage 3 test error, and the poster's
ablation of the 2nd stage (a: D2 once / b: repeated / c: + reprediction / d: + reduced LR /
e: full recipe), on real MNIST (LeNet) or CIFAR-10 (the lossy JPEG copy; a small ResNet).

Runs the `r2d2` pipeline's node functions (the code of `kedro run --pipelines=r2d2`). The 2nd
stage of every ablation config starts from the same stage-1 network. ``--epochs-d2 E`` is the
length of one D2 "pass" (config a); the repeated configs run 2E epochs with repredictions at E,
E+E/4, E+E/2, E+3E/4 and the learning rate stepped down at E+E/4, E+E/2, E+3E/4 by the
reference ratios 2/3, 1/3, 1/30 (reference: E = 300, repredictions 300/375/450/525).

    nice -n 10 .venv/bin/python benchmarks/r2d2.py --dataset mnist --seeds 0 1 2 --labels 100 --configs e
    nice -n 10 .venv/bin/python benchmarks/r2d2.py --dataset cifar10 --seeds 0 --labels 4000 \\
        --configs a b c d e --max-unlabeled 6000 --backbone resnet
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
from common import SHARED_DATA, cached_cifar10_npz, mean_std, save_result

from ssl_pipelines.evaluation import classification_report, predict_logits
from ssl_pipelines.pipelines.common_nodes import load_dataset, split_labeled_unlabeled
from ssl_pipelines.pipelines.r2d2.nodes import finetune_on_pseudo_labels, train_d2_stage, train_supervised_stage

REPO = Path(__file__).resolve().parents[1]
CIFAR_CACHE = REPO / "data" / "01_raw" / "cifar10_jpeg.npz"
PAPER_ABLATION = {"a": 6.71, "b": 6.37, "c": 6.23, "d": 5.94, "e": 5.78}  # CIFAR-10 4000 labels, Shake-Shake


def d2_config(name: str, e: int, lr: float) -> dict:
    """The d2 parameters of ablation config ``name`` (a..e) for a pass of ``e`` epochs."""
    q = max(1, e // 4)
    marks = [e, e + q, e + 2 * q, e + 3 * q]
    repeat = name != "a"
    cfg = {"epochs": 2 * e if repeat else e, "repredict_at": [], "lr_schedule": []}
    if name in ("c", "e"):
        cfg["repredict_at"] = sorted({m for m in marks if m < 2 * e})
    if name in ("d", "e"):
        cfg["lr_schedule"] = [[m, lr * f] for m, f in zip(marks[1:], (2 / 3, 1 / 3, 1 / 30)) if m < 2 * e]
    return cfg


def data_params(args) -> dict:
    split = {"num_labeled": args.labels, "validation_per_class": 0, "max_unlabeled": args.max_unlabeled}
    if args.dataset == "mnist":
        return {"name": "idx", "path": args.data or str(SHARED_DATA / "mnist"), **split}
    if args.data:
        return {"name": "npz" if args.data.endswith(".npz") else "image_folder", "path": args.data,
                "normalization": "standardize", **split}
    # decoding the JPEG tarball takes minutes: cached once
    return {"name": "npz", "path": str(cached_cifar10_npz(cache=CIFAR_CACHE)), "normalization": "standardize", **split}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=["mnist", "cifar10"], default="mnist")
    ap.add_argument("--data", default=None, help="MNIST IDX folder / CIFAR .npz or image folder (default: shared copies)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--labels", type=int, default=100, help="total labeled images (class-balanced)")
    ap.add_argument("--max-unlabeled", type=int, default=None, help="seeded subset of the unlabeled images")
    ap.add_argument("--backbone", default=None, help="default: lenet (mnist), resnet (cifar10)")
    ap.add_argument("--backbone-kwargs", default=None, help='JSON, e.g. \'{"depth": 8, "width": 1}\'')
    ap.add_argument("--configs", nargs="+", default=["e"], choices=list(PAPER_ABLATION))
    ap.add_argument("--finetune-configs", nargs="*", default=None, help="configs that also run stage 3 (default: all)")
    ap.add_argument("--steps-supervised", type=int, default=300, help="stage-1 optimizer steps")
    ap.add_argument("--epochs-d2", type=int, default=4, help="E: epochs of one D2 pass (over the unlabeled set)")
    ap.add_argument("--epochs-finetune", type=int, default=2)
    ap.add_argument("--batch-labeled", type=int, default=32)
    ap.add_argument("--batch-unlabeled", type=int, default=96)
    ap.add_argument("--lr-d2", type=float, default=0.03, help="reference: 0.03 per 128 images")
    args = ap.parse_args()
    import json

    mnist = args.dataset == "mnist"
    backbone = args.backbone or ("lenet" if mnist else "resnet")
    kwargs = json.loads(args.backbone_kwargs) if args.backbone_kwargs else (
        {} if backbone == "lenet" else {"depth": 8} if backbone == "resnet" else {})
    model_params = {"backbone": backbone, "backbone_kwargs": kwargs}
    augment = {"max_shift": 2, "flip": False} if mnist else {"max_shift": 2, "flip": True}
    sgd = lambda lr: {"name": "sgd", "learning_rate": lr, "momentum": 0.9, "nesterov": True}  # noqa: E731
    sup_params = {"epochs": max(1, args.steps_supervised // 10), "steps_per_epoch": 10, "batch_size": 32,
                  "optimizer": {"name": "adam", "learning_rate": 1e-3}, "augment": augment, "verbose": 0}
    d2_base = {"batch_labeled": args.batch_labeled, "batch_unlabeled": args.batch_unlabeled, "optimizer": sgd(args.lr_d2),
               "alpha": 0.1, "beta": 0.03, "label_lr": 4000, "label_lr_reference_batch_size": 512,
               "augment": augment, "verbose": 0, "repredict_batch_size": 512}
    ft_params = {"epochs": args.epochs_finetune, "batch_size": 128, "optimizer": sgd(0.0025),
                 "augment": augment, "verbose": 0, "repredict_batch_size": 512}
    finetune_configs = set(args.configs if args.finetune_configs is None else args.finetune_configs)
    dp = data_params(args)

    rows = []
    for seed in args.seeds:
        t0 = time.time()
        ds = load_dataset(dp, seed)
        split, _, summary = split_labeled_unlabeled(ds, dp, seed)
        test = lambda m: classification_report(predict_logits(m, split.x_test, 512), split.y_test, 10, ())["error"]  # noqa: E731
        sup, _ = train_supervised_stage(split, model_params, sup_params, seed)
        err1 = test(sup)
        print(f"seed {seed}: stage 1 test error {err1:.2f}% ({time.time() - t0:.0f} s)", flush=True)
        weights = sup.backbone.get_weights()
        for name in args.configs:
            t1 = time.time()
            net = keras.models.clone_model(sup.backbone)
            net.set_weights(weights)
            d2_params = {**d2_base, **d2_config(name, args.epochs_d2, args.lr_d2)}
            d2, _, curves = train_d2_stage(SimpleNamespace(backbone=net), split, d2_params, seed)
            row = {"seed": seed, "config": name, "d2_params": d2_params, "stage1_error": err1,
                   "stage2_error": test(d2), "pseudo_label_accuracy": curves["accuracy"],
                   "pseudo_label_mean_max_prob": curves["mean_max_prob"],
                   "prediction_mean_max_prob": curves["prediction_mean_max_prob"], "split": summary}
            if name in finetune_configs:
                ft, _, hard = finetune_on_pseudo_labels(d2, split, ft_params, seed)
                row["stage3_error"] = test(ft)
                row["hard_label_accuracy"] = hard["hard_label_accuracy"][0]["value"]
            row["seconds"] = time.time() - t1
            rows.append(row)
            print(f"seed {seed} config {name}: stage 2 {row['stage2_error']:.2f}%, stage 3 "
                  f"{row.get('stage3_error', float('nan')):.2f}%, pseudo-label acc "
                  f"{curves['accuracy'][0]['value']:.4f} -> {curves['accuracy'][-1]['value']:.4f} "
                  f"({row['seconds']:.0f} s)", flush=True)
    path = save_result(f"r2d2_{args.dataset}", {"args": vars(args), "rows": rows})

    col = lambda key, cfg: [r[key] for r in rows if r["config"] == cfg and key in r]  # noqa: E731
    stage1 = sorted({(r["seed"], r["stage1_error"]) for r in rows})
    print(f"\n{args.dataset}, {args.labels} labels, {backbone} {kwargs}, seeds {args.seeds}, "
          f"unlabeled {rows[0]['split']['unlabeled']}, E = {args.epochs_d2}")
    print("\n| config | stage 1 error % | stage 2 error % | stage 3 error % | final pseudo-label acc | paper (CIFAR-10, Shake-Shake) |")
    print("|---|---|---|---|---|---|")
    for cfg in args.configs:
        final_acc = [100 * r["pseudo_label_accuracy"][-1]["value"] for r in rows if r["config"] == cfg]
        print(f"| {cfg} | {mean_std([e for _, e in stage1])} | {mean_std(col('stage2_error', cfg))} | "
              f"{mean_std(col('stage3_error', cfg))} | {mean_std(final_acc)} | {PAPER_ABLATION[cfg]} |")
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()

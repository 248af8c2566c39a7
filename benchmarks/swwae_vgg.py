"""SAE/SWWAE decoders as a regularizer of a reduced-width VGG16 on CIFAR-10 (Zhang, Lee & Lee 2016).

Runs the ``swwae_vgg`` pipeline's node functions (same code as ``kedro run --pipelines=swwae_vgg``)
in the paper's *supervised* setting (every training image of the subset labeled, no unlabeled part)
on the lossy JPEG CIFAR-10 copy in ../shared/data/cifar10_jpeg_full, for several seeds, and compares:

* ``baseline``: the Step-1 classifier trained further with cross-entropy only for the fine-tuning
  epochs (same number of epochs as the augmented models' Step 4);
* ``sae_first`` and ``swwae_all``: Steps 2-4 of the paper from the same Step-1 classifier.

Step 1 is run once per seed and shared by the three arms (same weights). Reports top-1 error on
the test set, the train/validation error gap, and the images/s of a fine-tuning step (median epoch
time after the first epoch) relative to the plain classifier step.

    nice -n 10 .venv/bin/python benchmarks/swwae_vgg.py --seeds 0 1 2 --labels-per-class 400
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from pathlib import Path

import keras
from common import SHARED_DATA, cached_cifar10_npz, mean_std, save_result

from ssl_pipelines.data import eval_stream, ssl_stream
from ssl_pipelines.methods import SupervisedClassifier
from ssl_pipelines.models import build_backbone
from ssl_pipelines.pipelines.common_nodes import evaluate_classifier, load_dataset, split_labeled_unlabeled
from ssl_pipelines.pipelines.swwae_vgg.nodes import (
    _errors,
    finetune_swwae,
    pretrain_classifier,
    train_chained_decoder,
    train_layerwise_decoders,
)
from ssl_pipelines.params import parse_train
from ssl_pipelines.pipelines import common_training
from ssl_pipelines.pipelines.common_training import fit_stage, start_stage
from ssl_pipelines.pipelines.swwae_vgg import nodes as swwae_nodes


def prepare_training(params: dict, seed: int):
    """The checked, seeded ``train:`` section (what a pipeline stage starts with)."""
    return start_stage(parse_train(params, seed)[0])

REPO = Path(__file__).resolve().parents[1]
ARMS = {"baseline": None, "sae_first": ("sae", "first"), "swwae_all": ("swwae", "all")}
def _paper(method: str, variant: str) -> str:
    """ImageNet single-crop top-1 error (%) of the paper's row, from ``ssl_pipelines.published``."""
    from ssl_pipelines.published import published_for

    return "; ".join(p.label() for p in published_for(method, "imagenet2012") if p.variant == variant) or "–"


# each arm's row of Zhang et al.'s table (published.py: method, variant)
PAPER = {"baseline": ("supervised", "VGGNet"), "sae_first": ("swwae_vgg", "SAE-first"),
         "swwae_all": ("swwae_vgg", "SWWAE-all")}


class EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._t = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._t)


def images_per_second(timer: EpochTimer, steps: int, batch: int) -> float:
    times = timer.times[1:] or timer.times
    return steps * batch / statistics.median(times)


def cached_cifar(archive: str, cache: Path) -> str:
    return str(cached_cifar10_npz(archive, cache))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--labels-per-class", type=int, default=400, help="training images per class (all labeled)")
    ap.add_argument("--validation-per-class", type=int, default=100)
    ap.add_argument("--data", default=str(SHARED_DATA / "cifar10_jpeg_full" / "cifar10_jpg_full.tar.xz"))
    ap.add_argument("--cache", default=str(REPO / "data" / "01_raw" / "cifar10_jpeg.npz"))
    ap.add_argument("--width", type=float, default=0.125, help="VGG16 channel multiplier")
    ap.add_argument("--fc-units", type=int, default=256)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps-per-epoch", type=int, default=50)
    ap.add_argument("--pretrain-epochs", type=int, default=16)
    ap.add_argument("--decoder-epochs", type=int, default=3, help="Step 2 and Step 3 epochs each")
    ap.add_argument("--finetune-epochs", type=int, default=8)
    ap.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    ap.add_argument("--speed-only", action="store_true",
                    help="only time training steps (random data), interleaving the arms to cancel load drift")
    ap.add_argument("--speed-rounds", type=int, default=5)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.speed_only:
        return speed_only(args)

    data_params = {"name": "npz", "path": cached_cifar(args.data, Path(args.cache)), "normalization": "unit",
                   "labels_per_class": args.labels_per_class, "validation_per_class": args.validation_per_class,
                   "max_unlabeled": 0}
    kwargs = {"width": args.width, "blocks": 5, "fc_units": args.fc_units, "dropout": 0.5}
    opt = lambda lr: {"name": "adam", "learning_rate": lr}  # noqa: E731
    b, s = args.batch, args.steps_per_epoch
    pretrain = {"init": "train", "epochs": args.pretrain_epochs, "steps_per_epoch": s, "batch_size": b,
                "optimizer": opt(1e-3), "augment": {"max_shift": 2, "flip": True}, "verbose": 0}
    decoder = {"epochs": args.decoder_epochs, "steps_per_epoch": s, "batch_labeled": b,
               "optimizer": opt(1e-3), "verbose": 0}
    loss = {"reduction": "mean", "classification_weight": 1.0,
            "weights": {"image": 1.0, "pool1": 0.1, "pool2": 0.1, "pool3": 0.1, "pool4": 0.1}}
    finetune = {"epochs": args.finetune_epochs, "steps_per_epoch": s, "batch_labeled": b,
                "optimizer": opt(3e-4), "augment": {"max_shift": 2, "flip": True}, "verbose": 0, "loss": loss}

    ds = load_dataset(data_params, 0)
    results = {arm: [] for arm in args.arms}
    t_start = time.time()
    for seed in args.seeds:
        split, _, _ = split_labeled_unlabeled(ds, data_params, seed)
        base_model = {"unpooling": "swwae", "variant": "all", "backbone_kwargs": kwargs}
        t0 = time.time()
        backbone0, pre_hist, _ = pretrain_classifier(split, base_model, pretrain, seed)
        w0 = backbone0.get_weights()
        print(f"seed {seed}: step 1 in {time.time() - t0:.0f}s", flush=True)
        for arm in args.arms:
            t0 = time.time()
            backbone = build_backbone("vgg16", split.input_shape, split.num_classes, **kwargs)
            backbone.set_weights(w0)
            timer = EpochTimer()
            if ARMS[arm] is None:
                train = prepare_training({k: v for k, v in finetune.items() if k not in ("loss", "batch_labeled",
                                          "batch_unlabeled")} | {"batch_size": b}, seed)
                model = SupervisedClassifier(backbone, name="baseline")
                model.compile(optimizer=train.optimizer)
                stream = ssl_stream(split.x_labeled, split.y_labeled, batch_labeled=b, seed=seed,
                                    augment=train.augment.as_dict())
                fit_stage(model, train, stream, s, stage="finetune", validation=eval_stream(split.x_val, split.y_val),
                          callbacks=[timer])
            else:
                unpooling, variant = ARMS[arm]
                mp = {"unpooling": unpooling, "variant": variant, "backbone_kwargs": kwargs}
                decs, h2 = train_layerwise_decoders(backbone, split, mp, decoder, seed)
                decs, h3 = train_chained_decoder(backbone, decs, split, mp, decoder, seed)
                ft = dict(finetune)
                # the same fit, with the timer: call the node's pieces through a callback-carrying copy
                model, _, _ = _finetune_with_timer(backbone, decs, split, mp, ft, seed, timer)
                assert h2["frozen_encoder_max_abs_change"][0] == 0.0
            errs = _errors(model, split)
            row = {"seed": seed, **errs, "images_per_s": images_per_second(timer, s, b),
                   "wall_s": time.time() - t0}
            results[arm].append(row)
            print(f"seed {seed} {arm}: {row}", flush=True)

    base_ips = statistics.mean(r["images_per_s"] for r in results.get("baseline", [])) if "baseline" in results else None
    lines = ["| model | test top-1 error % | train error % | validation error % | val - train gap | "
             "images/s (fine-tune step) | relative speed | paper (ImageNet top-1) |", "|---|---|---|---|---|---|---|---|"]
    for arm, rows in results.items():
        ips = [r["images_per_s"] for r in rows]
        rel = f"{statistics.mean(ips) / base_ips:.2f}x" if base_ips else "n/a"
        lines.append(f"| {arm} | {mean_std([r['test_error'] for r in rows])} | {mean_std([r['train_error'] for r in rows])} "
                     f"| {mean_std([r['validation_error'] for r in rows])} | "
                     f"{mean_std([r['generalization_gap'] for r in rows])} | {mean_std(ips)} | {rel} | {_paper(*PAPER[arm])} |")
    table = "\n".join(lines)
    print(table)
    path = save_result("swwae_vgg", {"args": vars(args), "results": results, "table": table,
                                     "total_wall_s": time.time() - t_start})
    print(f"saved {path}")


def speed_only(args) -> None:
    """Images/s of one training step: plain classifier vs each augmented model (Step 4 form).

    The arms are timed in interleaved rounds of 10 steps (A B C A B C ...) on the same random
    CIFAR-shaped batch, and the median round is reported, so a shared CPU's load changes hit all
    arms alike.
    """
    import numpy as np
    import tensorflow as tf

    from ssl_pipelines.methods import SWWAEModel
    from ssl_pipelines.models import build_vgg16_decoders

    rng = np.random.default_rng(0)
    b = args.batch
    batch = {"x_labeled": rng.random((b, 32, 32, 3)).astype("float32"), "y_labeled": rng.integers(0, 10, b)}
    kwargs = {"width": args.width, "blocks": 5, "fc_units": args.fc_units, "dropout": 0.5}
    weights = {"image": 1.0, "pool1": 0.1, "pool2": 0.1, "pool3": 0.1, "pool4": 0.1}
    models = {}
    for arm in args.arms:
        net = build_backbone("vgg16", (32, 32, 3), 10, **kwargs)
        if ARMS[arm] is None:
            model = SupervisedClassifier(net)
        else:
            model = SWWAEModel(net, build_vgg16_decoders(net, ARMS[arm][0]), variant=ARMS[arm][1], loss_weights=weights)
        model.compile(optimizer=keras.optimizers.Adam(1e-4))
        step = tf.function(model.train_step)
        step(batch)  # trace
        models[arm] = step
    times = {arm: [] for arm in models}
    for _ in range(args.speed_rounds):
        for arm, step in models.items():
            t = time.perf_counter()
            for _ in range(10):
                out = step(batch)
            float(out["loss"])
            times[arm].append((time.perf_counter() - t) / 10)
    base = statistics.median(times["baseline"]) if "baseline" in times else None
    lines = ["| model | s/step (median of rounds) | images/s | relative to plain classifier |", "|---|---|---|---|"]
    for arm, ts in times.items():
        med = statistics.median(ts)
        rel = f"{base / med:.2f}x" if base else "n/a"
        lines.append(f"| {arm} | {med:.4f} | {b / med:.0f} | {rel} |")
    table = "\n".join(lines)
    print(table)
    print(f"saved {save_result('swwae_vgg_speed', {'args': vars(args), 'times': times, 'table': table})}")


def _finetune_with_timer(backbone, decoders, split, model_params, finetune_params, seed, timer):
    """``finetune_swwae`` with an extra epoch timer (the node itself takes no callbacks)."""
    def train_stage(*a, **k):
        k["callbacks"] = [*(k.get("callbacks") or []), timer]
        return common_training.train_stage(*a, **k)

    swwae_nodes.train_stage = train_stage
    try:
        return finetune_swwae(backbone, decoders, split, model_params, finetune_params, seed, {}, {}, {})
    finally:
        swwae_nodes.train_stage = common_training.train_stage


if __name__ == "__main__":
    main()

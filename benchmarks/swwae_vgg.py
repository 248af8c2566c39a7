"""Benchmark driver: SAE/SWWAE decoders as a regularizer of a reduced-width VGG16 on CIFAR-10
(Zhang, Lee & Lee 2016), the paper's *supervised* setting (every training image of the subset labeled,
no unlabeled part), on the lossy JPEG CIFAR-10 copy in ../shared/data/cifar10_jpeg_full.

One ``ssl-pipelines sweep`` of ``swwae_vgg`` with a ``--variant`` per arm of the paper's table:

* ``baseline`` (``model.unpooling: none``, the VGGNet row): Step 1, then Step 4 with cross-entropy only
  for the same steps (Steps 2-3 skipped);
* ``sae_first`` (``sae`` / ``first``) and ``swwae_all`` (``swwae`` / ``all``): Steps 1-4 of the paper.

Each run trains its own Step 1 (the same seed gives the same labeled draw and initialization), then the
RESULTS.md section ``swwae_vgg_cifar10`` is written from the store::

    nice -n 10 .venv/bin/python benchmarks/swwae_vgg.py                          # budget A, seeds 0,1,2
    nice -n 10 .venv/bin/python benchmarks/swwae_vgg.py --speed-only --speed-rounds 5   # step cost

Budget A (the previous script's reported table): 300 labeled images per class, 50 validation per class,
batch 64, Step 1 = 8 epochs x 30 steps, Steps 2 and 3 = 1 x 30 each, Step 4 = 4 x 30. ``--speed-only``
times the training steps of the three arms in interleaved rounds on one random batch (the library's
models, no pipeline: a step cost, not a result).
"""

from __future__ import annotations

import statistics
import sys
import time

from common import cached_cifar10_npz, choice_list, driver_arguments, run, save_result, sweep_command

# the paper's table rows as configurations of the pipeline's model (STYLE.md #11: an ablation is a flag)
VARIANTS = {"baseline": {"model.unpooling": "none"},
            "sae_first": {"model.unpooling": "sae", "model.variant": "first"},
            "swwae_all": {"model.unpooling": "swwae", "model.variant": "all"}}


def main(argv=None) -> int:
    p = driver_arguments(__doc__, store="swwae_vgg")
    p.add_argument("--data-path", default=None,
                   help="CIFAR-10 .npz (default: the cache of ../shared/data/cifar10_jpeg_full, decoded once "
                        "into data/01_raw)")
    p.add_argument("--labels-per-class", type=int, default=300, help="training images per class (all labeled)")
    p.add_argument("--validation-per-class", type=int, default=50)
    p.add_argument("--width", type=float, default=0.125, help="VGG16 channel multiplier")
    p.add_argument("--fc-units", type=int, default=256)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps-per-epoch", type=int, default=30)
    p.add_argument("--pretrain-epochs", type=int, default=8)
    p.add_argument("--decoder-epochs", type=int, default=1, help="Step 2 and Step 3 epochs each")
    p.add_argument("--finetune-epochs", type=int, default=4)
    p.add_argument("--arms", default=",".join(VARIANTS), help=f"comma-separated, some of {','.join(VARIANTS)}")
    p.add_argument("--run-name", default="bench-swwae-vgg-cifar10")
    p.add_argument("--speed-only", action="store_true",
                   help="only time training steps (random data), interleaving the arms to cancel load drift")
    p.add_argument("--speed-rounds", type=int, default=5)
    args = p.parse_args(argv)
    arms = choice_list(p, args.arms, "--arms", list(VARIANTS))
    if args.speed_only:
        return speed_only(args, arms)
    path = args.data_path or (str(cached_cifar10_npz()) if not args.dry_run else "data/01_raw/cifar10_jpeg.npz")
    opt = lambda lr: {"name": "adam", "learning_rate": lr}  # noqa: E731
    b, s = args.batch, args.steps_per_epoch
    decoder = {"epochs": args.decoder_epochs, "steps_per_epoch": s, "batch_labeled": b, "batch_unlabeled": b,
               "optimizer": opt(1e-3), "verbose": 0}
    data = {"name": "npz", "path": path, "data_dir": None, "resize": None, "normalization": "unit",
            "validation_per_class": args.validation_per_class, "max_unlabeled": 0}
    params = {**{f"swwae_vgg.data.{k}": v for k, v in data.items()},
              "swwae_vgg.model.backbone_kwargs": {"width": args.width, "blocks": 5, "fc_units": args.fc_units,
                                                  "dropout": 0.5},
              "swwae_vgg.pretrain": {"init": "train", "weights_path": None, "epochs": args.pretrain_epochs,
                                     "steps_per_epoch": s, "batch_size": b, "optimizer": opt(1e-3),
                                     "augment": {"max_shift": 2, "flip": True}, "verbose": 0},
              "swwae_vgg.decoder_layerwise": decoder, "swwae_vgg.decoder_chained": decoder,
              "swwae_vgg.finetune": {"epochs": args.finetune_epochs, "steps_per_epoch": s, "batch_labeled": b,
                                     "batch_unlabeled": b, "optimizer": opt(3e-4),
                                     "augment": {"max_shift": 2, "flip": True}, "verbose": 0,
                                     "loss": {"reduction": "mean", "classification_weight": 1.0,
                                              "weights": {"image": 1.0, "pool1": 0.1, "pool2": 0.1, "pool3": 0.1,
                                                          "pool4": 0.1},
                                              "stop_gradient_targets": False, "reconstruct_unlabeled": True}}}
    variants = {name: VARIANTS[name] for name in arms}
    return run(sweep_command(["swwae_vgg"], args, labels=str(10 * args.labels_per_class), run_name=args.run_name,
                             params=params, variants=variants), "swwae_vgg_cifar10", args)


def speed_only(args, arms: list[str]) -> int:
    """Images/s of one training step: plain classifier vs each augmented model (Step 4 form).

    The arms are timed in interleaved rounds of 10 steps (A B C A B C ...) on the same random
    CIFAR-shaped batch, and the median round is reported, so a shared CPU's load changes hit all
    arms alike.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from ssl_pipelines.methods import SupervisedClassifier, SWWAEModel
    from ssl_pipelines.models import build_backbone, build_vgg16_decoders

    rng = np.random.default_rng(0)
    b = args.batch
    batch = {"x_labeled": rng.random((b, 32, 32, 3)).astype("float32"), "y_labeled": rng.integers(0, 10, b)}
    kwargs = {"width": args.width, "blocks": 5, "fc_units": args.fc_units, "dropout": 0.5}
    weights = {"image": 1.0, "pool1": 0.1, "pool2": 0.1, "pool3": 0.1, "pool4": 0.1}
    models = {}
    for arm in arms:
        net = build_backbone("vgg16", (32, 32, 3), 10, **kwargs)
        unpooling = VARIANTS[arm]["model.unpooling"]
        if unpooling == "none":
            model = SupervisedClassifier(net)
        else:
            model = SWWAEModel(net, build_vgg16_decoders(net, unpooling), variant=VARIANTS[arm]["model.variant"],
                               loss_weights=weights)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
    nice -n 10 .venv/bin/python benchmarks/step_time.py --preset swwae_vgg_arms  # the arms' step cost

Budget A (the previous script's reported table): 300 labeled images per class, 50 validation per class,
batch 64, Step 1 = 8 epochs x 30 steps, Steps 2 and 3 = 1 x 30 each, Step 4 = 4 x 30. The step cost
of the arms is a preset of ``benchmarks/step_time.py`` (the same pipeline parameters, interleaved rounds).
"""

from __future__ import annotations

import sys

from common import cifar10_path, choice_list, driver_arguments, run, sweep_command

# the paper's table rows as configurations of the pipeline's model (an ablation is a flag, not a copy of the model)
VARIANTS = {"baseline": {"model.unpooling": "none"},
            "sae_first": {"model.unpooling": "sae", "model.variant": "first"},
            "swwae_all": {"model.unpooling": "swwae", "model.variant": "all"}}


def pipeline_params(path: str, labels_per_class: int, validation_per_class: int, *, width: float = 0.125,
                    fc_units: int = 256, batch: int = 64, steps: int = 30, pretrain_epochs: int = 8,
                    decoder_epochs: int = 1, finetune_epochs: int = 4) -> dict:
    """The ``swwae_vgg.*`` parameters of the benchmark (budget A by default) on the CIFAR-10 ``.npz``
    at ``path``: the paper's supervised setting, a reduced-width VGG16, Steps 1-4."""
    opt = lambda lr: {"name": "adam", "learning_rate": lr}  # noqa: E731
    decoder = {"epochs": decoder_epochs, "steps_per_epoch": steps, "batch_labeled": batch, "batch_unlabeled": batch,
               "optimizer": opt(1e-3), "verbose": 0}
    data = {"name": "npz", "path": path, "data_dir": None, "resize": None, "normalization": "unit",
            "validation_per_class": validation_per_class, "max_unlabeled": 0}
    return {**{f"swwae_vgg.data.{k}": v for k, v in data.items()},
            "swwae_vgg.model.backbone_kwargs": {"width": width, "blocks": 5, "fc_units": fc_units, "dropout": 0.5},
            "swwae_vgg.pretrain": {"init": "train", "weights_path": None, "epochs": pretrain_epochs,
                                   "steps_per_epoch": steps, "batch_size": batch, "optimizer": opt(1e-3),
                                   "augment": {"max_shift": 2, "flip": True}, "verbose": 0},
            "swwae_vgg.decoder_layerwise": decoder, "swwae_vgg.decoder_chained": decoder,
            "swwae_vgg.finetune": {"epochs": finetune_epochs, "steps_per_epoch": steps, "batch_labeled": batch,
                                   "batch_unlabeled": batch, "optimizer": opt(3e-4),
                                   "augment": {"max_shift": 2, "flip": True}, "verbose": 0,
                                   "loss": {"reduction": "mean", "classification_weight": 1.0,
                                            "weights": {"image": 1.0, "pool1": 0.1, "pool2": 0.1, "pool3": 0.1,
                                                        "pool4": 0.1},
                                            "stop_gradient_targets": False, "reconstruct_unlabeled": True}}}


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
    args = p.parse_args(argv)
    arms = choice_list(p, args.arms, "--arms", list(VARIANTS))
    path = cifar10_path(args)
    params = pipeline_params(path, args.labels_per_class, args.validation_per_class, width=args.width,
                             fc_units=args.fc_units, batch=args.batch, steps=args.steps_per_epoch,
                             pretrain_epochs=args.pretrain_epochs, decoder_epochs=args.decoder_epochs,
                             finetune_epochs=args.finetune_epochs)
    variants = {name: VARIANTS[name] for name in arms}
    return run(sweep_command(["swwae_vgg"], args, labels=str(10 * args.labels_per_class), run_name=args.run_name,
                             params=params, variants=variants), "swwae_vgg_cifar10", args)


if __name__ == "__main__":
    sys.exit(main())

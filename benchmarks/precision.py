"""Benchmark driver: ``runtime.precision`` float32 against mixed_bfloat16, every method at its
benchmark size, through the pipelines.

Two parts, each one ``ssl-pipelines sweep`` with a ``--variant`` per precision and its RESULTS.md
section:

* ``--part speed`` (section ``precision_speed``): the training stage's step time of every method,
  float32 and mixed_bfloat16 in interleaved rounds (a round per seed: every method in both
  precisions, then the next round), the sweep pinned to ``--cores`` with one thread per run. The
  stage is each method's main training stage (``m1_pretrain`` for M1, ``d2`` for R2-D2,
  ``finetune``, Step 4, for the SWWAE VGG); the others run two steps. The nets are the benchmark
  drivers' (``benchmarks/<driver>.py``): MNIST for the supervised CNN, inversion, M1, M2 and
  M1+M2, the CIFAR-10 JPEG copy for HybridNet / Mean Teacher (their ConvLarge), R2-D2's ResNet
  and the SWWAE VGG16 (budget A, SWWAE-all).
* ``--part parity`` (sections ``precision_parity_mnist`` / ``precision_parity_cifar10``): test
  error at equal steps, 3 seeds, both precisions: each method's RESULTS.md protocol with its CPU
  budget replaced by a fixed number of steps (so both precisions train the same steps): MNIST,
  100 labels, for all but the SWWAE VGG, which runs budget A on CIFAR-10 (3,000 labels) in a
  sweep of its own::

    nice -n 10 .venv/bin/python benchmarks/precision.py --part speed --cores 1
    nice -n 10 .venv/bin/python benchmarks/precision.py --part parity
    nice -n 10 .venv/bin/python benchmarks/precision.py --part parity --methods swwae_vgg
"""

from __future__ import annotations

import os
import sys

from common import SHARED_DATA, cifar10_path, choice_list, driver_arguments, run, store_uri, sweep_command

PRECISIONS = {"float32": {"runtime.precision": "float32"}, "mixed_bfloat16": {"runtime.precision": "mixed_bfloat16"}}
METHODS = ["supervised", "inversion", "m1", "m2", "m1_m2", "hybridnet", "mean_teacher", "r2d2", "swwae_vgg"]
ADAM = {"name": "adam", "learning_rate": 1e-3}
#: M1's VAE and the M2s of benchmarks/m1_m2.py
M1_MODEL = {"latent_dim": 50, "hidden_units": [500, 500], "likelihood": "bernoulli", "binarize": True,
            "kl_warmup_steps": 0, "kl_weight": 1.0}
#: the ConvLarge of benchmarks/hybridnet.py
CONVLARGE = {"stages": [[16, 1], [32, 1]], "top": [32]}


def _stage(epochs: int, steps: int, **keys) -> dict:
    return {"epochs": epochs, "steps_per_epoch": steps, "verbose": 0, **keys}


def _main_stage(epochs: int, steps: int, **keys) -> dict:
    return _stage(epochs, steps, roofline=True, **keys)


def method_params(method: str, *, epochs: int, steps: int, mnist: str, cifar10: str) -> dict:
    """The ``<method>.*`` parameters of one arm: its benchmark net and data, its training stage
    ``epochs`` x ``steps`` (with ``roofline``: its step's FLOPs against a GEMM's rate), every other
    stage one epoch of two steps."""
    short = _stage(1, 2)
    main = _main_stage
    idx = {"name": "idx", "path": mnist, "validation_per_class": 0}
    npz = {"name": "npz", "path": cifar10, "validation_per_class": 0, "normalization": "standardize"}
    augment = {"max_shift": 2, "flip": True}
    p: dict = {}
    if method == "supervised":  # conf/base's small CNN on MNIST
        p = {"data": idx, "train": main(epochs, steps, batch_size=32)}
    elif method == "inversion":  # benchmarks/inversion.py: conf/base's inversion CNN, 32 + 32 images
        p = {"data": {**idx, "normalization": "unit"}, "train": main(epochs, steps), "model.beta": 1.0,
             "model.alpha": 0.6}
    elif method == "m1":
        p = {"data": idx, "model": M1_MODEL, "transduction.neighbors": 0,
             "pretrain": main(epochs, steps, batch_size=100, optimizer=ADAM), "train": {**short, "steps_per_epoch": None}}
    elif method == "m2":
        p = {"data": idx, "model.hidden_units": [500], "model.classifier_hidden_units": [500], "model.binarize": True,
             "model.alpha": 30.0, "model.activation": "relu",
             "train": main(epochs, steps, batch_labeled=10, batch_unlabeled=100, optimizer=ADAM)}
    elif method == "m1_m2":
        p = {"data": idx, "m1": M1_MODEL, "pretrain": {**short, "batch_size": 100},
             "m2.hidden_units": [300], "m2.classifier_hidden_units": [300], "m2.alpha": 3.0, "m2.activation": "relu",
             "train": main(epochs, steps, optimizer=ADAM)}
    elif method == "hybridnet":
        p = {"data": npz, "model.stages": CONVLARGE["stages"], "model.top": CONVLARGE["top"],
             "train": main(epochs, steps, augment=augment)}
    elif method == "mean_teacher":
        p = {"data": npz, "model.backbone_kwargs": {**CONVLARGE, "batch_norm": True, "dropout": 0.0, "input_noise": 0.0},
             "train": main(epochs, steps, augment=augment)}
    elif method == "r2d2":  # benchmarks/r2d2.py --dataset cifar10: ResNet-8, 32 + 96 images
        p = {"data": {**npz, "max_unlabeled": 2000},
             "model.backbone": "resnet",
             "model.backbone_kwargs": {"depth": 8, "filters": None, "dense_units": None, "padding": None},
             "supervised": {**short, "batch_size": 32},
             "d2": main(epochs, steps, batch_labeled=32, batch_unlabeled=96, augment=augment, repredict_at=[],
                          lr_schedule=[]),
             "finetune": {**short, "batch_size": 128}}
    elif method == "swwae_vgg":  # benchmarks/swwae_vgg.py budget A, the SWWAE-all arm
        from swwae_vgg import pipeline_params

        out = pipeline_params(cifar10, labels_per_class=100, validation_per_class=0, steps=steps,
                              pretrain_epochs=1, decoder_epochs=1, finetune_epochs=epochs)
        out["swwae_vgg.finetune"] = {**out["swwae_vgg.finetune"], "roofline": True}
        for stage in ("pretrain", "decoder_layerwise", "decoder_chained"):
            out[f"swwae_vgg.{stage}"] = {**out[f"swwae_vgg.{stage}"], "steps_per_epoch": 2}
        out.update({"swwae_vgg.model.unpooling": "swwae", "swwae_vgg.model.variant": "all",
                    "swwae_vgg.evaluation.test_subset": 500})
        return out
    else:
        raise ValueError(f"unknown method {method!r}")
    p["evaluation.test_subset"] = 500
    data = p.pop("data")
    p.update({f"data.{k}": v for k, v in data.items()})  # data.path as its own key: made relative by sweep_command
    return {f"{method}.{k}": v for k, v in p.items()}


def parity_params(method: str, *, mnist: str, cifar10: str) -> dict:
    """The ``<method>.*`` parameters of one parity arm: the method's RESULTS.md protocol with its
    CPU budget replaced by a fixed number of steps (both precisions train the same steps)."""
    idx = {"name": "idx", "path": mnist, "validation_per_class": 0}
    adam = ADAM
    p: dict
    if method == "supervised":  # benchmarks/supervised_mnist.py: MLP 500-500, 100 x 10 steps of 32
        p = {"data": idx, "model.backbone": "mlp",
             "model.backbone_kwargs": {"hidden_units": [500, 500], "dropout": 0.5, "filters": None, "dense_units": None},
             "train": _stage(100, 10, batch_size=32, augment=None)}
    elif method == "inversion":  # benchmarks/inversion.py: 800 steps, alpha 0.6, beta 1
        p = {"data": {**idx, "normalization": "unit"}, "train": _stage(1, 800), "model.alpha": 0.6, "model.beta": 1.0}
    elif method == "m1":  # benchmarks/m1_m2.py's M1, 6,000 VAE steps of 100 images instead of 8 CPU-minutes
        p = {"data": {**idx, "max_unlabeled": 49900}, "model": M1_MODEL, "transduction.neighbors": 0,
             "pretrain": _stage(30, 200, batch_size=100, optimizer=adam), "train.verbose": 0}
    elif method == "m2":  # benchmarks/m1_m2.py's M2, 4,000 steps of 10 + 100 images instead of 30 CPU-minutes
        p = {"data": {**idx, "max_unlabeled": 49900}, "model.hidden_units": [500],
             "model.classifier_hidden_units": [500], "model.binarize": True, "model.alpha": 30.0,
             "model.activation": "relu",
             "train": _stage(20, 200, batch_labeled=10, batch_unlabeled=100, optimizer=adam)}
    elif method == "m1_m2":  # M1 as above, then 4,000 M2 steps
        p = {"data": {**idx, "max_unlabeled": 49900}, "m1": M1_MODEL,
             "pretrain": _stage(30, 200, batch_size=100, optimizer=adam),
             "m2.hidden_units": [300], "m2.classifier_hidden_units": [300], "m2.alpha": 3.0, "m2.activation": "relu",
             "train": _stage(20, 200, optimizer=adam)}
    elif method in ("hybridnet", "mean_teacher"):  # benchmarks/hybridnet.py --dataset mnist: 14 epochs of 100 steps
        net = {"stages": [[16, 1], [32, 1]], "top": [32]}
        model = ({"model.stages": net["stages"], "model.top": net["top"]} if method == "hybridnet" else
                 {"model.backbone_kwargs": {**net, "batch_norm": True, "dropout": 0.0, "input_noise": 0.0}})
        p = {"data": {**idx, "normalization": "standardize"}, **model,
             "train": _stage(14, 100, augment={"max_shift": 1, "flip": False})}
    elif method == "r2d2":  # benchmarks/r2d2.py (MNIST): LeNet, 300 + 8 epochs of D2 + 2 epochs, config e
        from r2d2 import d2_config

        augment = {"max_shift": 2, "flip": False}
        sgd = lambda lr: {"name": "sgd", "learning_rate": lr, "momentum": 0.9, "nesterov": True}  # noqa: E731
        p = {"data": {**idx, "normalization": "unit", "max_unlabeled": 10000},
             "model.backbone": "lenet",
             "model.backbone_kwargs": {"filters": [20, 50], "dense_units": 500, "padding": "valid"},
             "supervised": _stage(30, 10, batch_size=32, augment=augment),
             "d2": {"batch_labeled": 32, "batch_unlabeled": 96, "optimizer": sgd(0.03), "repredict_batch_size": 512,
                    "augment": augment, "verbose": 0, "steps_per_epoch": None},
             "finetune": {"epochs": 2, "batch_size": 128, "optimizer": sgd(0.0025), "repredict_batch_size": 512,
                          "augment": augment, "verbose": 0, "steps_per_epoch": None}}
        p.update({k: v for k, v in d2_config("e", 4, 0.03).items()})
    elif method == "swwae_vgg":  # benchmarks/swwae_vgg.py budget A, the SWWAE-all arm
        from swwae_vgg import pipeline_params

        out = pipeline_params(cifar10, labels_per_class=300, validation_per_class=0)
        out.update({"swwae_vgg.model.unpooling": "swwae", "swwae_vgg.model.variant": "all"})
        return out
    else:
        raise ValueError(f"unknown method {method!r}")
    data = p.pop("data")
    p.update({f"data.{k}": v for k, v in data.items()})
    return {f"{method}.{k}": v for k, v in p.items()}


def main(argv=None) -> int:
    p = driver_arguments(__doc__, store="precision")
    p.add_argument("--part", choices=["speed", "parity"], default="speed")
    p.add_argument("--methods", default=None,
                   help=f"some of {','.join(METHODS)} (default: all for speed, all but swwae_vgg for parity)")
    p.add_argument("--epochs", type=int, default=4, help="speed: epochs of the training stage (default 4)")
    p.add_argument("--steps", type=int, default=15, help="speed: steps per epoch (default 15)")
    p.add_argument("--cores", default="1", help="speed: CPU cores the sweep is pinned to (default 1)")
    p.add_argument("--mnist-path", default=str(SHARED_DATA / "mnist"), help="folder of MNIST IDX files")
    p.add_argument("--data-path", default=None, help="CIFAR-10 .npz (default: the cache of the JPEG copy)")
    p.add_argument("--run-name", default=None)
    args = p.parse_args(argv)
    if args.part == "parity" and args.tracking_uri == store_uri("precision"):
        args.tracking_uri = store_uri("precision_parity")  # its own store: the two parts may run side by side
    default = METHODS if args.part == "speed" else [m for m in METHODS if m != "swwae_vgg"]
    methods = choice_list(p, args.methods, "--methods", METHODS) if args.methods else default
    if args.part == "parity":
        mnist_methods = [m for m in methods if m != "swwae_vgg"]
        if "swwae_vgg" in methods and mnist_methods:
            p.error("--part parity: swwae_vgg (CIFAR-10, 3,000 labels) is a sweep of its own: "
                    "--methods swwae_vgg, or the MNIST methods without it")
        cifar10 = cifar10_path(args) if "swwae_vgg" in methods else "unused"
        params = {}
        for m in methods:
            params.update(parity_params(m, mnist=args.mnist_path, cifar10=cifar10))
        on_cifar = methods == ["swwae_vgg"]
        name = args.run_name or ("bench-precision-parity-cifar10" if on_cifar else "bench-precision-parity-mnist")
        argv = sweep_command(methods, args, labels="3000" if on_cifar else "100", run_name=name, params=params,
                             variants=PRECISIONS)
        return run(argv, "precision_parity_cifar10" if on_cifar else "precision_parity_mnist", args)
    cifar10 = cifar10_path(args) if any(m in methods for m in ("hybridnet", "mean_teacher", "r2d2", "swwae_vgg")) \
        else "unused"
    params: dict = {}
    for m in methods:
        params.update(method_params(m, epochs=args.epochs, steps=args.steps, mnist=args.mnist_path, cifar10=cifar10))
    argv = sweep_command(methods, args, labels="1000", run_name=args.run_name or "bench-precision-speed",
                         params=params, variants=PRECISIONS)
    argv.insert(argv.index("--run-name"), "--interleave")
    cores = {int(c) for c in args.cores.split(",")}
    if not args.dry_run and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)  # before TensorFlow starts its threads: they inherit it
        print(f"pinned to core(s) {sorted(cores)}", flush=True)
    return run(argv, "precision_speed", args)


if __name__ == "__main__":
    sys.exit(main())

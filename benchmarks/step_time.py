"""Benchmark driver: training-step time of configurations of the pipelines, in interleaved rounds.

One ``ssl-pipelines sweep --interleave`` per preset: a round per seed (every configuration of seed 0,
then of seed 1, ...; so a drifting load hits every configuration alike), the whole sweep pinned to
``--cores`` (``os.sched_setaffinity``, as ``taskset``) with ``runtime.threads`` threads. Each child
logs its stage's step time (``<stage>.step_ms``: median over the epochs after the first, which
traces the step) and the load average when it started (``sweep.load_average``); the RESULTS.md
section ``step_time_<preset>`` is then written from the store: ms/step per configuration and the
ratio to the first configuration, round by round::

    nice -n 10 .venv/bin/python benchmarks/step_time.py --preset hybridnet_cls_vs_supervised --cores 1
    nice -n 10 .venv/bin/python benchmarks/step_time.py --preset m2_issue_vs_relu_alpha10 --cores 1
    nice -n 10 .venv/bin/python benchmarks/step_time.py --preset swwae_vgg_arms --cores 1

Presets:

* ``hybridnet_cls_vs_supervised`` (issue 20): HybridNet with its reconstruction and stability losses
  switched off (classification only: no term reads the unlabeled images, so its stream holds the 20
  labeled images per step alone) against the ``supervised`` pipeline on the same tiny ConvLarge,
  digits, 20 labeled images per step, 4 epochs of 60 steps.
* ``m2_issue_vs_relu_alpha10`` (issue 20): M2 on MNIST (10 + 100 images per step, 3 epochs of 150
  steps) with the settings when issue 20 was filed (linear log-variance, softplus units) against
  the 8-minute table's best (softplus log-variance, ReLU; alpha and the learning-rate decay change
  no work in the step).
* ``swwae_vgg_arms`` (issue 5): the Step-4 (``finetune``) step of the three arms of
  ``benchmarks/swwae_vgg.py`` (plain VGG16, + SAE-first, + SWWAE-all; its budget-A model, batch 64,
  CIFAR-10 JPEG copy), Steps 1-3 shortened to one epoch of 20 steps, Step 4 4 epochs of 20 steps.
"""

from __future__ import annotations

import os
import sys

from common import SHARED_DATA, cifar10_path, driver_arguments, run, sweep_command

#: the tiny ConvLarge of conf/base/parameters_hybridnet.yml as a plain backbone
TINY = {"stages": [[32, 1], [64, 1]], "top": [64], "batch_norm": True, "dropout": 0.0, "input_noise": 0.0,
        "filters": None, "dense_units": None}
DIGITS_EPOCHS = {"data.validation_per_class": 0, "train.epochs": 4, "train.steps_per_epoch": 60, "train.verbose": 0}


def _mnist(args) -> str:
    return args.data_path or str(SHARED_DATA / "mnist")


def _m2(args, variants: dict) -> tuple:
    params = {"m2.data.name": "idx", "m2.data.path": _mnist(args), "m2.data.validation_per_class": 0,
              "m2.model.alpha": 3.0, "m2.model.binarize": True, "m2.train.epochs": 3, "m2.train.steps_per_epoch": 150,
              "m2.train.verbose": 0}
    return ["m2"], "100", params, variants


def _hybridnet_cls_vs_supervised(args) -> tuple:
    supervised = {"supervised.model.backbone": "hybrid_convlarge", "supervised.model.backbone_kwargs": TINY,
                  "supervised.train.batch_size": 20, "supervised.train.augment.max_shift": 1,
                  **{f"supervised.{k}": v for k, v in DIGITS_EPOCHS.items()}}
    hybridnet = {"hybridnet.loss.lambda_rec": 0.0, "hybridnet.loss.lambda_inter": 0.0,
                 "hybridnet.loss.lambda_stab": 0.0, "hybridnet.train.batch_labeled": 20,
                 "hybridnet.train.batch_unlabeled": 80, **{f"hybridnet.{k}": v for k, v in DIGITS_EPOCHS.items()}}
    return ["supervised", "hybridnet"], "100", {**supervised, **hybridnet}, None


def _swwae_vgg_arms(args) -> tuple:
    from swwae_vgg import VARIANTS, pipeline_params

    params = pipeline_params(cifar10_path(args), labels_per_class=20, validation_per_class=5, steps=20,
                             pretrain_epochs=1, decoder_epochs=1, finetune_epochs=4)
    return ["swwae_vgg"], "200", params, dict(VARIANTS)  # 20 per class, all labeled (the paper's setting)


#: preset -> its sweep: (pipelines, total labels, parameters, variants) from the driver's arguments
PRESETS = {
    "hybridnet_cls_vs_supervised": _hybridnet_cls_vs_supervised,
    "m2_issue_vs_relu_alpha10": lambda args: _m2(args, {
        "issue": {"model.log_var_activation": "linear", "model.activation": "softplus"},
        "relu_alpha10": {"model.log_var_activation": "softplus", "model.activation": "relu", "model.alpha": 10.0}}),
    "m2_linear_vs_softplus_logvar": lambda args: _m2(args, {
        "linear_logvar": {"model.log_var_activation": "linear"},
        "softplus_logvar": {"model.log_var_activation": "softplus"}}),
    "swwae_vgg_arms": _swwae_vgg_arms,
}


def main(argv=None) -> int:
    p = driver_arguments(__doc__, store="step_time")
    p.add_argument("--preset", default="hybridnet_cls_vs_supervised", choices=list(PRESETS))
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (seeds 0..rounds-1; default 3)")
    p.add_argument("--cores", default="1", help="CPU cores the sweep is pinned to, e.g. 1 or 0,1 (default 1)")
    p.add_argument("--data-path", default=None,
                   help="MNIST IDX folder (m2 presets; default ../shared/data/mnist) or CIFAR-10 .npz (swwae_vgg_arms)")
    p.add_argument("--run-name", default=None)
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error(f"--rounds expects a positive number of rounds, got {args.rounds}")
    try:
        cores = {int(c) for c in args.cores.split(",")}
    except ValueError:
        p.error(f"--cores expects comma-separated core numbers, e.g. 1 or 0,1, got {args.cores!r}")
    if not cores <= set(range(os.cpu_count() or 1)):
        p.error(f"--cores expects cores of this machine (0..{(os.cpu_count() or 1) - 1}), got {args.cores!r}")
    args.seeds = ",".join(str(r) for r in range(args.rounds))
    pipelines, labels, params, variants = PRESETS[args.preset](args)
    argv = sweep_command(pipelines, args, labels=labels,
                         run_name=args.run_name or f"bench-step-time-{args.preset}", params=params, variants=variants)
    argv.insert(argv.index("--run-name"), "--interleave")
    if not args.dry_run and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)  # before TensorFlow starts its threads: they inherit it
        print(f"pinned to core(s) {sorted(cores)}", flush=True)
    return run(argv, f"step_time_{args.preset}", args)


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark driver: the HybridNet ablation at equal CPU (Robert et al. 2018 Table 1 rows as
configurations of the ``hybridnet`` pipeline): classification only, classification + stability
(Mean Teacher) and the full HybridNet, on the same small ConvLarge-style net.

One ``ssl-pipelines sweep`` of ``hybridnet`` with a ``--variant`` per row; every run stops at
``train.cpu_minutes`` of process CPU time (``runtime.threads`` 1), logs its EMA test accuracy every
1000 steps (``evaluation.curve_every``) on a fixed 2000-image ``evaluation.test_subset``; then the
RESULTS.md section ``hybridnet_<dataset>`` from that store::

    .venv/bin/python benchmarks/hybridnet.py --dataset mnist               # 2 CPU-min per run
    .venv/bin/python benchmarks/hybridnet.py --dataset cifar10 --labels 4000 --cpu-minutes 6

The previous script's protocol: 20 + 80 images per step, Adam 3e-3 held for 60 % of the steps
then linear to 0 (``train.lr_decay_start: 0.6``), ramp-ups of 500 steps (5 epochs of 100 steps),
lambda_rec 0.25, lambda_inter 0.5, stages [[16, 1], [32, 1]], top [32], per-channel
standardized inputs. It calibrated each run's step count to the CPU budget; the pipeline's
schedule (learning-rate decay, reconstruction ramp-down) follows the configured ``train.epochs``,
so each variant's epochs are the steps the previous script fitted into the budget on MNIST
(classification 5808, + stability 4417, full 1402: 58, 44 and 14 epochs of 100 steps, scaled by
``--cpu-minutes / 2``), and the budget stops a run that is slower than that.
"""

from __future__ import annotations

import sys

from common import SHARED_DATA, cifar10_path, driver_arguments, run, sweep_command

# Table 1 rows: loss switches of the same model (an ablation is a flag, not a copy of the model)
VARIANTS = {"classification": {"loss.lambda_rec": 0.0, "loss.lambda_inter": 0.0, "loss.lambda_stab": 0.0},
            "stability": {"loss.lambda_rec": 0.0, "loss.lambda_inter": 0.0},
            "hybridnet": {}}
EPOCHS_AT_2_CPU_MINUTES = {"classification": 58, "stability": 44, "hybridnet": 14}  # 100 steps each


def main(argv=None) -> int:
    p = driver_arguments(__doc__, store="hybridnet")
    p.add_argument("--dataset", choices=["mnist", "cifar10"], default="mnist")
    p.add_argument("--data-path", default=None,
                   help="MNIST IDX folder (default ../shared/data/mnist) or CIFAR-10 .npz (default: the cache of "
                        "../shared/data/cifar10_jpeg_full, decoded once into data/01_raw)")
    p.add_argument("--labels", default=None, help="total labels (default 100 for mnist, 4000 for cifar10)")
    p.add_argument("--cpu-minutes", type=float, default=None, help="CPU budget per run (default 2 mnist, 6 cifar10)")
    p.add_argument("--run-name", default=None)
    args = p.parse_args(argv)
    mnist = args.dataset == "mnist"
    minutes = args.cpu_minutes or (2.0 if mnist else 6.0)
    if mnist:
        data = {"name": "idx", "path": args.data_path or str(SHARED_DATA / "mnist")}
    else:
        data = {"name": "npz", "path": cifar10_path(args)}
    params = {**{f"hybridnet.data.{k}": v for k, v in data.items()},
              "hybridnet.data.normalization": "standardize", "hybridnet.data.validation_per_class": 0,
              "hybridnet.model.stages": [[16, 1], [32, 1]], "hybridnet.model.top": [32],
              "hybridnet.loss.lambda_rec": 0.25, "hybridnet.loss.lambda_inter": 0.5,
              "hybridnet.loss.stab_rampup_epochs": 5, "hybridnet.loss.rec_rampup_epochs": 5,
              "hybridnet.loss.inter_rampup_epochs": 2,
              "hybridnet.train.steps_per_epoch": 100, "hybridnet.train.cpu_minutes": minutes,
              "hybridnet.train.lr_decay_start": 0.6, "hybridnet.train.verbose": 0,
              "hybridnet.train.augment": {"max_shift": 1 if mnist else 2, "flip": not mnist},
              "hybridnet.evaluation.curve_every": 1000, "hybridnet.evaluation.curve_unit": "step",
              "hybridnet.evaluation.test_subset": 2000}
    variants = {name: {**keys, "train.epochs": max(1, round(EPOCHS_AT_2_CPU_MINUTES[name] * minutes / 2))}
                for name, keys in VARIANTS.items()}
    labels = args.labels or ("100" if mnist else "4000")
    return run(sweep_command(["hybridnet"], args, labels=labels, run_name=args.run_name or f"bench-hybridnet-{args.dataset}",
                             params=params, variants=variants), f"hybridnet_{args.dataset}", args)


if __name__ == "__main__":
    sys.exit(main())

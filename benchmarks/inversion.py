"""Benchmark driver: SSL via deep-network inversion vs the same network trained with cross-entropy
only (``model.alpha = 1``, Eq. 10), on real MNIST with 50 and 100 labels (METHODS.md §2.4, §6).

One ``ssl-pipelines sweep`` of the ``inversion`` pipeline: one MLflow parent run, one child per
(labels, variant, seed), then the ``inversion`` section of benchmarks/RESULTS.md from that store::

    .venv/bin/python benchmarks/inversion.py --seeds 0,1,2     # --dry-run: print the command

The protocol of the previous script's table: ``inv_small_cnn`` (32-64 filters, max pooling),
inputs in [0, 1], Adam 3e-3, 32 labeled + 32 unlabeled per step, 800 steps, (alpha, beta) =
(0.6, 1.0), R and E on the unlabeled images, no validation split, the full 10k test set; the
test accuracy every 200 steps is logged as `inversion.test_accuracy`.
"""

from __future__ import annotations

import sys

from common import SHARED_DATA, driver_arguments, run, sweep_command


def main(argv=None) -> int:
    p = driver_arguments(__doc__, store="inversion")
    p.add_argument("--labels", default="50,100", help="total label counts (default 50,100)")
    p.add_argument("--steps", type=int, default=800, help="optimizer steps per run (default 800)")
    p.add_argument("--data-path", default=str(SHARED_DATA / "mnist"), help="folder of MNIST IDX files")
    p.add_argument("--run-name", default="bench-inversion-mnist")
    args = p.parse_args(argv)
    params = {"inversion.data.name": "idx", "inversion.data.path": args.data_path,
              "inversion.data.normalization": "unit", "inversion.data.validation_per_class": 0,
              "inversion.train.epochs": 1, "inversion.train.steps_per_epoch": args.steps,
              "inversion.train.verbose": 0, "inversion.model.beta": 1.0,
              "inversion.evaluation.curve_every": 200, "inversion.evaluation.curve_unit": "step"}
    variants = {"inversion": {"model.alpha": 0.6}, "ce_only": {"model.alpha": 1.0}}
    return run(sweep_command(["inversion"], args, labels=args.labels, run_name=args.run_name, params=params,
                             variants=variants), "inversion_mnist", args)


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark driver: the supervised-only baseline on real MNIST with few labels (the floor of
Kingma et al. 2014 Table 1), through the ``supervised`` pipeline.

One ``ssl-pipelines sweep`` (one parent run, a child per seed), then the RESULTS.md section
``supervised_mnist``::

    .venv/bin/python benchmarks/supervised_mnist.py --seeds 0,1,2

The previous script's protocol: an MLP 500-500 (ReLU, dropout 0.5), 100 epochs of 10 steps of 32
labeled images, Adam 1e-3, no augmentation, no validation split, the full 10k test set.
"""

from __future__ import annotations

import sys

from common import SHARED_DATA, driver_arguments, run, sweep_command


def main(argv=None) -> int:
    p = driver_arguments(__doc__, store="supervised_mnist")
    p.add_argument("--labels", default="100", help="total labels (default 100)")
    p.add_argument("--data-path", default=str(SHARED_DATA / "mnist"), help="folder of MNIST IDX files")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--steps-per-epoch", type=int, default=10)
    p.add_argument("--run-name", default="bench-supervised-mnist")
    args = p.parse_args(argv)
    params = {"supervised.data.name": "idx", "supervised.data.path": args.data_path,
              "supervised.data.validation_per_class": 0, "supervised.model.backbone": "mlp",
              # null drops conf/base's small_cnn keys (ssl_pipelines.models.build_backbone)
              "supervised.model.backbone_kwargs": {"hidden_units": [500, 500], "dropout": 0.5, "filters": None,
                                                   "dense_units": None},
              "supervised.train.epochs": args.epochs, "supervised.train.steps_per_epoch": args.steps_per_epoch,
              "supervised.train.batch_size": 32, "supervised.train.augment": None, "supervised.train.verbose": 0}
    return run(sweep_command(["supervised"], args, labels=args.labels, run_name=args.run_name, params=params),
               "supervised_mnist", args)


if __name__ == "__main__":
    sys.exit(main())

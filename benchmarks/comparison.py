"""Benchmark driver: all methods side by side on the embedded digits data, as a user compares them:
one ``ssl-pipelines sweep`` over every registered pipeline (one parent run, a child per pipeline
and seed), at one equal, small budget (``--epochs`` in every training stage), then the RESULTS.md
section ``comparison_digits``::

    .venv/bin/python benchmarks/comparison.py                      # every pipeline, 2 epochs, 3 seeds
    .venv/bin/python benchmarks/comparison.py --pipelines m2,m1_m2 --epochs 5

It checks the comparison tooling (sweep -> parent/child MLflow runs -> the generated table) on every
pipeline; at 2 epochs it is not a measure of the methods (their digits defaults run 12-60 epochs).

The previous script's protocol (two sweeps, 2 seeds): ``--epochs 2`` for every pipeline, and for
R2-D2 a reprediction after stage 2's first epoch and no learning-rate schedule
(``r2d2.d2.repredict_at=[1]``, ``r2d2.d2.lr_schedule=[]``), M1+M2's M1 pretrained 20 epochs
(``m1_m2.pretrain.epochs=20``): the defaults here, in one sweep.
"""

from __future__ import annotations

import sys

from common import choice_list, driver_arguments, run, sweep_command

#: what the 2-epoch budget changes beyond ``--epochs`` (stage 2 of R2-D2 must repredict inside its
#: 2 epochs; M1+M2 needs an M1 worth building on)
SHORT_BUDGET = {"r2d2.d2.repredict_at": [1], "r2d2.d2.lr_schedule": [], "m1_m2.pretrain.epochs": 20}


def main(argv=None) -> int:
    from ssl_pipelines.cli import available_pipelines

    registered = available_pipelines()
    p = driver_arguments(__doc__, store="comparison")
    p.add_argument("--pipelines", default=",".join(registered), help="comma-separated (default: every registered one)")
    p.add_argument("--labels", default="100", help="total labels (default 100)")
    p.add_argument("--epochs", type=int, default=2, help="epochs of every training stage (default 2)")
    p.add_argument("--run-name", default="bench-comparison-digits")
    args = p.parse_args(argv)
    pipelines = choice_list(p, args.pipelines, "--pipelines", registered)
    params = {"train.verbose": 0}
    params.update({k: v for k, v in SHORT_BUDGET.items() if k.split(".")[0] in pipelines})
    argv = sweep_command(pipelines, args, labels=args.labels, run_name=args.run_name, params=params)
    return run(argv + ["--epochs", str(args.epochs), "--keep-going"], "comparison_digits", args)


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: M1, M2, M1+M2 and the supervised MLP baseline on MNIST with 100 labels (Kingma et al.
2014, Table 1; METHODS.md §5.3). Run by hand, e.g.

    nice -n 10 .venv/bin/python benchmarks/m1_m2.py --seeds 0 1 2 --labels 100 \
        --data-path ../shared/data/mnist --max-unlabeled 10000 --minutes 4

Each (method, seed) trains for at most ``--epochs-*`` epochs or ``--minutes`` of process CPU time
(all threads, so the budget does not depend on other load on the machine), then
reports test error on the full 10k MNIST test set. Results go to ``benchmarks/runs/m1_m2_<time>.json``
and a Markdown table is printed. Uses the same library code and pipeline nodes as ``kedro run``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from common import set_threads  # noqa: E402

from ssl_pipelines import data  # noqa: E402
from ssl_pipelines.methods import M1M2, SupervisedClassifier  # noqa: E402
from ssl_pipelines.models import build_backbone  # noqa: E402
from ssl_pipelines.params import parse_train  # noqa: E402
from ssl_pipelines.params.vae import parse_m1, parse_m2  # noqa: E402
from ssl_pipelines.pipelines.common_generative import build_m1, build_m2, train_generative_ssl  # noqa: E402
from ssl_pipelines.pipelines.common_training import start_stage  # noqa: E402
from ssl_pipelines.pipelines.m1_m2.nodes import select_active_units  # noqa: E402


def prepare_training(params: dict, seed: int):
    """The checked, seeded ``train:`` section (what a pipeline stage starts with)."""
    return start_stage(parse_train(params, seed)[0])

PAPER = {"supervised": 25.81, "m1": 11.82, "m2": 11.97, "m1_m2": 3.33}  # Table 1, N = 100 (NN, M1+TSVM, M2, M1+M2)
PAPER_STD = {"supervised": None, "m1": 0.25, "m2": 1.71, "m1_m2": 0.14}


def cpu_seconds() -> float:
    """CPU time of this process over all its threads (user + system): the budget unit, robust to other load."""
    return time.process_time()


class Budget(keras.callbacks.Callback):
    """Stop after ``minutes`` of process CPU time (all threads); record the test error every ``every`` epochs.

    The curve holds ``(epoch, test error %, CPU minutes used so far)``; evaluating the curve's test
    error is excluded from the training budget.
    """

    def __init__(self, minutes: float, x_test, y_test, predict, every: int = 1):
        super().__init__()
        self.minutes = minutes
        self.x, self.y, self.predict, self.every = x_test, y_test, predict, every
        self.curve: list[tuple[int, float, float]] = []
        self.used = 0.0

    def on_train_begin(self, logs=None):
        self.started = cpu_seconds()

    def on_epoch_end(self, epoch, logs=None):
        self.used += cpu_seconds() - self.started
        if (epoch + 1) % self.every == 0 and self.predict is not None:
            self.curve.append((epoch + 1, test_error(self.predict, self.x, self.y), round(self.used / 60, 2)))
            print(f"  epoch {epoch + 1}: test error {self.curve[-1][1]:.2f} % after {self.used / 60:.1f} CPU-min",
                  flush=True)
        self.started = cpu_seconds()
        if self.used > 60 * self.minutes:
            self.model.stop_training = True


def test_error(predict, x, y) -> float:
    logits = np.concatenate([np.asarray(predict(x[i:i + 1000])) for i in range(0, len(x), 1000)])
    return float(100.0 * np.mean(logits.argmax(1) != y))


def optimizer_params(lr):
    return {"name": "adam", "learning_rate": lr, "beta_1": 0.9, "beta_2": 0.999}


def run_supervised(sp, args, seed):
    train = prepare_training({"epochs": args.epochs_supervised, "batch_size": 100, "steps_per_epoch": 10,
                              "optimizer": optimizer_params(args.lr), "verbose": 0}, seed)
    net = build_backbone("mlp", sp.input_shape, 10, hidden_units=[args.m2_hidden], activation="softplus",
                         kernel_init_std=args.init_std)
    model = SupervisedClassifier(net)
    model.compile(optimizer=train.optimizer)
    stream = data.ssl_stream(sp.x_labeled, sp.y_labeled, batch_labeled=min(100, len(sp.x_labeled)), seed=seed)
    budget = Budget(args.minutes, sp.x_test, sp.y_test, lambda x: model(x), every=max(1, args.epochs_supervised // 10))
    t0 = time.time()
    model.fit(stream, epochs=train.epochs, steps_per_epoch=10, verbose=0, callbacks=[budget])
    return model, budget.curve, time.time() - t0, {"cpu_minutes": round(budget.used / 60, 2)}


def m1_params(args):
    return {"latent_dim": 50, "hidden_units": [500, 500], "kernel_init_std": args.init_std,
            "likelihood": "bernoulli", "binarize": True}


def pretrain(sp, args, seed):
    train = prepare_training({"epochs": args.epochs_m1, "batch_size": args.m1_batch,
                              "optimizer": optimizer_params(args.m1_lr), "verbose": 0}, seed)
    m1 = build_m1(sp, parse_m1({**m1_params(args), "classifier": {"backbone": "mlp",
                                                                  "backbone_kwargs": {"hidden_units": []}}}), seed)
    m1.compile(optimizer=train.optimizer)
    x_all = np.concatenate([sp.x_labeled, sp.x_unlabeled])
    stream = data.ssl_stream(x_all, np.zeros(len(x_all), np.int32), batch_labeled=args.m1_batch, seed=seed)
    budget = Budget(args.minutes_m1, sp.x_test[:0], sp.y_test[:0], None, every=10 ** 9)
    t0 = time.time()
    h = m1.fit(stream, epochs=train.epochs, steps_per_epoch=len(x_all) // args.m1_batch, verbose=0, callbacks=[budget])
    return m1, time.time() - t0, {"m1_cpu_minutes": round(budget.used / 60, 2), "m1_epochs": len(h.history["loss"]), "m1_final_elbo_loss": float(h.history["loss"][-1]),
                                  "m1_final_kl": float(h.history["kl_z"][-1])}


def run_m1(sp, args, seed, m1, t_pre):
    from sklearn.linear_model import LogisticRegression

    t0 = time.time()
    feats = np.asarray(m1.encode(sp.x_labeled)[0])
    clf = LogisticRegression(max_iter=5000, C=args.m1_C).fit(feats, sp.y_labeled)
    err = test_error(lambda x: clf.decision_function(np.asarray(m1.encode(x)[0])), sp.x_test, sp.y_test)
    return err, t_pre + time.time() - t0


def run_m2(sp, args, seed, m1=None):
    train = prepare_training({"epochs": args.epochs_m2 if m1 is None else args.epochs_m1_m2,
                              "batch_labeled": args.batch_labeled, "batch_unlabeled": args.batch_unlabeled,
                              "optimizer": optimizer_params(args.lr), "verbose": 0}, seed)
    if m1 is None:
        model = build_m2(sp.input_shape, 10, len(sp.x_labeled), len(sp.x_unlabeled),
                         parse_m2({"latent_dim": 50, "hidden_units": [args.m2_hidden], "kernel_init_std": args.init_std,
                                   "alpha": args.alpha}), seed)
        stage, minutes = "m2", args.minutes
    else:
        active = select_active_units(m1, sp, {"active_threshold": 0.1, "active_sample": 1000}, seed)
        m2 = build_m2((len(active),), 10, len(sp.x_labeled), len(sp.x_unlabeled),
                      parse_m2({"latent_dim": 50, "hidden_units": [args.m1_m2_hidden], "kernel_init_std": args.init_std,
                                "likelihood": "gaussian", "binarize": False,
                                "alpha": args.alpha if args.alpha_m1_m2 is None else args.alpha_m1_m2}), seed)
        model = M1M2(m1, m2, active_units=active)
        stage, minutes = "m1_m2", args.minutes_m1_m2 or args.minutes
    budget = Budget(minutes, sp.x_test, sp.y_test, lambda x: model(x), every=args.curve_every)
    sp_noval = sp
    t0 = time.time()
    hist = train_generative_ssl(model, sp_noval, train, stage, callbacks=[budget])
    extra = {"cpu_minutes": round(budget.used / 60, 2), "epochs_done": len(hist["loss"]), "images_per_second": float(np.median(hist["images_per_second"])),
             "final_terms": {k: float(v[-1]) for k, v in hist.items() if k != "images_per_second"}}
    if m1 is not None:
        extra["active_units"] = len(model.active_units)
    return model, budget.curve, time.time() - t0, extra


def measure_m2_speed(sp, args) -> list[dict]:
    """Images/s of the M2 train step (y summed over all classes) at 10+100 and the paper's 1+499 batches."""
    rows = []
    for b_l, b_u in [(args.batch_labeled, args.batch_unlabeled), (1, 499)]:
        model = build_m2(sp.input_shape, 10, len(sp.x_labeled), len(sp.x_unlabeled),
                         parse_m2({"hidden_units": [args.m2_hidden], "kernel_init_std": args.init_std}), 0)
        model.compile(optimizer="adam")
        stream = data.ssl_stream(sp.x_labeled, sp.y_labeled, sp.x_unlabeled, batch_labeled=b_l, batch_unlabeled=b_u)
        model.fit(stream, epochs=1, steps_per_epoch=3, verbose=0)  # trace + warm up
        steps = max(10, 4000 // (b_l + b_u))
        t0 = time.perf_counter()
        model.fit(stream, epochs=1, steps_per_epoch=steps, verbose=0)
        dt = time.perf_counter() - t0
        rows.append({"batch": f"{b_l}+{b_u}", "images_per_second": steps * (b_l + b_u) / dt,
                     "ms_per_step": 1000 * dt / steps})
        print(f"M2 train step, batch {b_l}+{b_u}: {rows[-1]['images_per_second']:.0f} images/s "
              f"({rows[-1]['ms_per_step']:.0f} ms/step)", flush=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--labels", type=int, default=100, help="total labels (balanced)")
    ap.add_argument("--data-path", default=str(Path(__file__).resolve().parents[2] / "shared/data/mnist"))
    ap.add_argument("--max-unlabeled", type=int, default=10000, help="unlabeled subset (paper: 50000 - N)")
    ap.add_argument("--methods", nargs="+", default=["supervised", "m1", "m2", "m1_m2"])
    ap.add_argument("--minutes", type=float, default=4.0,
                    help="CPU-time cap (process CPU minutes, all threads) per M2 / supervised run")
    ap.add_argument("--minutes-m1-m2", type=float, default=None, help="CPU-time cap of M1+M2's M2 stage (default --minutes)")
    ap.add_argument("--minutes-m1", type=float, default=2.0, help="CPU-time cap of the M1 pretraining")
    ap.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0: all cores)")
    ap.add_argument("--epochs-supervised", type=int, default=100)
    ap.add_argument("--epochs-m1", type=int, default=30)
    ap.add_argument("--epochs-m2", type=int, default=1000)
    ap.add_argument("--epochs-m1-m2", type=int, default=1000)
    ap.add_argument("--m1-batch", type=int, default=100)
    ap.add_argument("--m1-lr", type=float, default=1e-3)
    ap.add_argument("--m1-C", type=float, default=1.0, help="inverse L2 strength of M1's logistic regression")
    ap.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate of M2 / M1+M2 / supervised")
    ap.add_argument("--init-std", type=float, default=None, help="weights N(0, std^2); default Glorot (paper 1e-3)")
    ap.add_argument("--alpha", type=float, default=0.1, help="M2's alpha (paper 0.1: beta = alpha N / N_l)")
    ap.add_argument("--alpha-m1-m2", type=float, default=None, help="M1+M2's alpha (default --alpha)")
    ap.add_argument("--m2-hidden", type=int, default=500)
    ap.add_argument("--m1-m2-hidden", type=int, default=300)
    ap.add_argument("--batch-labeled", type=int, default=10)
    ap.add_argument("--batch-unlabeled", type=int, default=100)
    ap.add_argument("--curve-every", type=int, default=1)
    ap.add_argument("--speed-only", action="store_true", help="only measure the M2 train-step images/s")
    ap.add_argument("--summarize", nargs="+", metavar="JSON", help="only print the table of these result files")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "runs"))
    args = ap.parse_args(argv)
    if args.summarize:
        summarize(args.summarize)
        return
    set_threads(args.threads)

    ds = data.load_dataset("idx", path=args.data_path)
    # the paper's split: first 50k of MNIST train for training (10k validation unused here), full test set
    ds.x_train, ds.y_train = ds.x_train[:50000], ds.y_train[:50000]
    if args.speed_only:
        measure_m2_speed(data.split_labeled_unlabeled(ds, num_labeled=args.labels, max_unlabeled=5000, seed=0), args)
        return
    results = []
    for seed in args.seeds:
        sp = data.split_labeled_unlabeled(ds, num_labeled=args.labels, max_unlabeled=args.max_unlabeled, seed=seed)
        m1 = None
        for method in args.methods:
            keras.backend.clear_session()
            row = {"method": method, "seed": seed}
            if method == "supervised":
                model, curve, secs, extra = run_supervised(sp, args, seed)
                row.update(error=curve[-1][1] if curve else test_error(lambda x: model(x), sp.x_test, sp.y_test),
                           curve=curve, seconds=secs, **extra)
            elif method in ("m1", "m1_m2"):
                if m1 is None:
                    m1, t_pre, pre = pretrain(sp, args, seed)
                    row.update(pre)
                else:
                    t_pre = 0.0
                if method == "m1":
                    err, secs = run_m1(sp, args, seed, m1, t_pre)
                    row.update(error=err, seconds=secs)
                else:
                    model, curve, secs, extra = run_m2(sp, args, seed, m1=m1)
                    row.update(error=test_error(lambda x: model(x), sp.x_test, sp.y_test), curve=curve,
                               seconds=secs + t_pre, **extra)
            elif method == "m2":
                model, curve, secs, extra = run_m2(sp, args, seed)
                row.update(error=test_error(lambda x: model(x), sp.x_test, sp.y_test), curve=curve, seconds=secs, **extra)
            else:
                raise SystemExit(f"unknown method {method!r}")
            print(json.dumps({k: v for k, v in row.items() if k != "curve"}), flush=True)
            results.append(row)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"m1_m2_{time.strftime('%Y%m%d_%H%M%S')}.json"
    path.write_text(json.dumps({"args": vars(args), "command": " ".join(sys.argv), "results": results}, indent=1))
    print(f"\nresults: {path}\n")
    print_table(results, args.methods)


def print_table(results: list[dict], methods=("supervised", "m1", "m2", "m1_m2")) -> None:
    """Markdown table of test error per method (mean ± population std over seeds), plus each curve's
    test error at the last epoch within 5 / 10 / 20 / 30 CPU-minutes."""
    print("| method | test error % (mean ± std) | seeds | per seed | paper (3000 epochs) |")
    print("|---|---|---|---|---|")
    for method in methods:
        rows = [r for r in results if r["method"] == method]
        if not rows:
            continue
        errs = [r["error"] for r in rows]
        paper = PAPER[method] if PAPER_STD[method] is None else f"{PAPER[method]} ± {PAPER_STD[method]}"
        print(f"| {method} | {np.mean(errs):.2f} ± {np.std(errs):.2f} | {', '.join(str(r['seed']) for r in rows)} | "
              f"{', '.join(f'{e:.2f}' for e in errs)} | {paper} |")
    print("\nlearning curves (test error % at the last epoch within N CPU-minutes, per seed):")
    for method in methods:
        for r in (r for r in results if r["method"] == method and r.get("curve")):
            marks = []
            for m in (5, 10, 20, 30):
                inside = [c for c in r["curve"] if len(c) > 2 and c[2] <= m]
                if inside:
                    marks.append(f"{m} min: {inside[-1][1]:.2f} (epoch {inside[-1][0]})")
            print(f"  {method} seed {r['seed']}: " + "; ".join(marks))


def summarize(paths: list[str]) -> None:
    """Print the table of one or more result JSONs (e.g. two halves of a run split over two processes)."""
    results, commands = [], []
    for path in paths:
        blob = json.loads(Path(path).read_text())
        results += blob["results"]
        commands.append(blob.get("command", ""))
    for command in commands:
        print(f"    {command}")
    print_table(results)

if __name__ == "__main__":
    main()

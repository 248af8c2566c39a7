"""HybridNet ablation benchmark: classification only vs classification + stability (Mean Teacher)
vs full HybridNet on the same tiny ConvLarge-style net, at the same number of steps (``--steps``,
the paper's equal epochs) or the same process CPU time (``--cpu-minutes``, the steps of each run
calibrated on a throw-away copy of the model).

Checks the *ordering* of the paper's Table 1 (CIFAR-10, 4000 labels, ConvLarge, 600 epochs:
79.0 < 81.3 < 86.6 % accuracy) at a CPU budget, and reports the step cost of each configuration
relative to the classification-only (supervised) step. Run by hand, e.g.::

    .venv/bin/python benchmarks/hybridnet.py --dataset cifar10 --data-path data/01_raw/cifar10_jpeg.npz \
        --labels 4000 --seeds 0 1 2 --cpu-minutes 6 --lr-decay-start 0.6 --threads 1

Writes ``benchmarks/runs/hybridnet_<dataset>_<time>_<pid>.json`` and prints a Markdown table;
``--summarize`` merges the files of runs made side by side. ``--data-path``: for cifar10 a
``.npz`` cache (``ssl_pipelines.data.save_npz``) or the JPEG ``.tar.xz`` (decoded and cached next
to ``--cache``); for mnist the IDX folder.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from common import cached_cifar10_npz, set_threads

CONFIGS = {
    # a plain SupervisedClassifier on the same classifier path C(E_c(x)), labeled batch only and no
    # augmentation: the floor of the step cost (issue 20: the classification-only step within 1.3x)
    "supervised": None,
    # Table 1 rows: (lambda_cls, lambda_rec, lambda_inter, lambda_stab, balanced)
    "classification": dict(lambda_rec=0.0, lambda_inter=0.0, lambda_stab=0.0),
    "cls+stability": dict(lambda_rec=0.0, lambda_inter=0.0),
    "hybridnet_full": dict(),
}
PAPER = {"classification": 79.0, "cls+stability": 81.3, "hybridnet_full": 86.6}  # Table 1, C10 4000


def load(args):
    """The data set in [0, 1], then ``--normalization`` (the code's per-channel standardization by default)."""
    from ssl_pipelines import data

    if args.dataset == "mnist":
        ds = data.load_dataset("idx", path=args.data_path)
    else:
        path = Path(args.data_path)
        ds = data.load_dataset("npz", path=str(path if path.suffix == ".npz" else cached_cifar10_npz(path, args.cache)))
    return data.preprocess_dataset(ds, normalization=args.normalization)[0]


class StepRecorder:
    """Keras callback (``.cb``): wall and process-CPU time of every training step and, every
    ``every`` steps (0: never), the EMA classifier's test accuracy with the CPU-minutes so far
    (evaluation is outside the timed steps)."""

    def __init__(self, every=0, x_test=None, y_test=None):
        import keras

        class CB(keras.callbacks.Callback):
            def __init__(cb):
                super().__init__()
                cb.times, cb.cpu, cb.points = [], [], []

            def on_train_batch_begin(cb, batch, logs=None):
                cb.t, cb.c = time.perf_counter(), time.process_time()

            def on_train_batch_end(cb, batch, logs=None):
                cb.times.append(time.perf_counter() - cb.t)
                cb.cpu.append(time.process_time() - cb.c)
                if every and (batch + 1) % every == 0:
                    acc = float((np.asarray(cb.model.predict(x_test, batch_size=500, verbose=0)).argmax(1)
                                 == y_test).mean()) * 100
                    cpu_min = sum(cb.cpu) / 60
                    cb.points.append((batch + 1, round(acc, 2), round(cpu_min, 2)))
                    print(f"  step {batch + 1}: EMA acc {acc:.2f}% after {cpu_min:.1f} CPU-min", flush=True)

        self.cb = CB()


def learning_rate(lr, steps, decay_start):
    """``lr`` for the first ``decay_start`` fraction of ``steps``, then linear to 0 at the last step:
    the released code's effective schedule (``ssl_pipelines.training.linear_decay_factor``,
    METHODS.md §1.3), as a graph-side schedule. ``decay_start >= 1``: constant ``lr``."""
    import keras

    from ssl_pipelines.training import linear_decay_factor

    if decay_start >= 1:
        return lr

    class ConstantThenLinear(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            return lr * linear_decay_factor(step, steps, decay_start)

    return ConstantThenLinear()


def build(sp, cfg_name, steps, args):
    import keras

    from ssl_pipelines import methods, models

    parts = models.build_hybrid_branches("convlarge", sp.input_shape, sp.num_classes, stages=args.stages,
                                         top=args.top, dropout=args.dropout, input_noise=args.input_noise)
    kw = dict(lambda_stab=args.lambda_stab, lambda_rec=args.lambda_rec, lambda_inter=args.lambda_inter,
              ema_decay=args.ema_decay, stab_rampup_steps=args.rampup_steps, rec_rampup_steps=args.rampup_steps,
              inter_rampup_steps=max(1, args.rampup_steps * 2 // 5), rampdown_steps=steps,
              augment_shift=args.shift, augment_flip=args.flip)
    if CONFIGS[cfg_name] is None:
        from ssl_pipelines.models.hybrid_nets import compose_classifier

        model = methods.SupervisedClassifier(compose_classifier(parts["encoder_c"], parts["classifier"]))
    else:
        kw.update(CONFIGS[cfg_name])
        model = methods.HybridNet(**parts, **kw)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate(args.lr, steps, args.lr_decay_start)))
    return model


def calibrate_steps(sp, cfg_name, seed, args, stream):
    """Steps that fit ``--cpu-minutes`` of process CPU time: time ``--calibration-steps`` steps of a
    throw-away model of the same configuration (first 10 steps, the tracing, excluded)."""
    from ssl_pipelines.training import set_global_seed

    set_global_seed(seed)
    model = build(sp, cfg_name, args.calibration_steps, args)
    timer = StepRecorder()
    model.fit(stream, epochs=1, steps_per_epoch=args.calibration_steps, verbose=0, callbacks=[timer.cb])
    per_step = float(np.median(timer.cb.cpu[10:]))
    return max(1, int(args.cpu_minutes * 60 / per_step)), per_step


def run_one(ds, cfg_name, seed, args):
    from ssl_pipelines import data
    from ssl_pipelines.training import set_global_seed

    sp = data.split_labeled_unlabeled(ds, labels_per_class=args.labels // ds.num_classes, seed=seed,
                                      validation_per_class=0, max_unlabeled=args.max_unlabeled)
    stream = data.ssl_stream(sp.x_labeled, sp.y_labeled, sp.x_unlabeled, batch_labeled=args.batch_labeled,
                             batch_unlabeled=args.batch_unlabeled, seed=seed)
    steps, calib = args.steps, None
    if args.cpu_minutes:
        steps, calib = calibrate_steps(sp, cfg_name, seed, args, stream)
        print(f"{cfg_name} seed {seed}: {calib * 1000:.1f} CPU-ms/step -> {steps} steps in {args.cpu_minutes} CPU-min",
              flush=True)
    # every fit starts a new iterator of the (stateless, seeded) stream: the run sees the same
    # batches as without the calibration
    set_global_seed(seed)
    model = build(sp, cfg_name, steps, args)
    n_test = min(args.test_size or len(sp.x_test), len(sp.x_test))
    # a fixed random subset (the same for every seed/config): image folders list the test set
    # class by class, so the first N images would hold only a few classes
    pick = np.random.default_rng(12345).permutation(len(sp.x_test))[:n_test]
    x_test, y_test = sp.x_test[pick], sp.y_test[pick]
    rec = StepRecorder(args.curve_every, x_test, y_test).cb
    t0 = time.perf_counter()
    hist = model.fit(stream, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[rec])
    train_time = time.perf_counter() - t0
    ema = np.asarray(model.predict(x_test, batch_size=500, verbose=0)).argmax(1)
    raw = np.asarray(model.backbone.predict(x_test, batch_size=500, verbose=0)).argmax(1)
    times = np.asarray(rec.times[5:])  # skip tracing
    return {
        "config": cfg_name, "seed": seed, "steps": steps, "calibrated_cpu_s_per_step": calib,
        "accuracy_ema": float((ema == y_test).mean()) * 100, "accuracy_raw": float((raw == y_test).mean()) * 100,
        "step_time_median_s": float(np.median(times)), "train_time_s": train_time,
        "train_cpu_minutes": round(sum(rec.cpu) / 60, 2), "curve": rec.points,
        "final_terms": {k: float(v[-1]) for k, v in hist.history.items()}, "n_test": int(n_test),
        "n_labeled": int(len(sp.x_labeled)), "n_unlabeled": int(len(sp.x_unlabeled)),
    }


def table(results, dataset):
    """Markdown table, one row per configuration: accuracies (mean ± std and per seed), steps, the
    per-step cost (process CPU time when calibrated, else the median wall time) and its ratio to the
    classification-only (supervised) step."""
    cfgs = [c for c in CONFIGS if any(r["config"] == c for r in results)]

    def cost(r):
        return r.get("calibrated_cpu_s_per_step") or r["step_time_median_s"]

    cpu = all(r.get("calibrated_cpu_s_per_step") for r in results)
    base = np.median([cost(r) for r in results if r["config"] == "classification"] or [np.nan])
    unit = "CPU-ms/step" if cpu else "ms/step (wall)"
    lines = [f"| configuration | EMA acc. % (mean ± std; per seed) | raw acc. % | steps | {unit} | × cls step | "
             f"paper (C10 4000, 600 ep.) |", "|---|---|---|---|---|---|---|"]
    for c in cfgs:
        rs = sorted((r for r in results if r["config"] == c), key=lambda r: r["seed"])
        ema = np.array([r["accuracy_ema"] for r in rs])
        raw = np.array([r["accuracy_raw"] for r in rs])
        st = np.median([cost(r) for r in rs])
        paper = f"{PAPER[c]}" if dataset == "cifar10" and c in PAPER else "–"
        per_seed = ", ".join(f"{v:.2f}" for v in ema)
        lines.append(f"| {c} | {ema.mean():.2f} ± {ema.std(ddof=1) if len(ema) > 1 else 0:.2f} ({per_seed}) | "
                     f"{raw.mean():.2f} ± {raw.std(ddof=1) if len(raw) > 1 else 0:.2f} | "
                     f"{int(np.mean([r['steps'] for r in rs]))} | {st * 1000:.1f} | {st / base:.2f} | {paper} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=["cifar10", "mnist"], default="cifar10")
    p.add_argument("--data-path", default="data/01_raw/cifar10_jpeg.npz")
    p.add_argument("--cache", default="data/01_raw/cifar10_jpeg.npz")
    p.add_argument("--labels", type=int, default=4000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    p.add_argument("--steps", type=int, default=400, help="optimizer steps per run (same for every config)")
    p.add_argument("--cpu-minutes", type=float, default=0.0,
                   help="instead of --steps: the same process CPU time for every config (steps calibrated per run)")
    p.add_argument("--calibration-steps", type=int, default=40)
    p.add_argument("--lr-decay-start", "--lr-constant-fraction", dest="lr_decay_start", type=float, default=1.0,
                   help="keep the lr constant for this fraction of the steps, then linear to 0 (released code: 0.6; "
                        "1: constant); the pipelines' train.lr_decay_start")
    p.add_argument("--lambda-rec", type=float, default=1.0, help="final reconstruction weight (paper ConvLarge: 1)")
    p.add_argument("--lambda-inter", type=float, default=1.0, help="intermediate reconstruction weight (paper: 1)")
    p.add_argument("--max-unlabeled", type=int, default=None, help="subsample the unlabeled pool")
    p.add_argument("--test-size", type=int, default=None, help="evaluate on a fixed random subset of N test images")
    p.add_argument("--stages", type=json.loads, default=[[32, 1], [64, 1]])
    p.add_argument("--top", type=json.loads, default=[64])
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--input-noise", type=float, default=0.0)
    p.add_argument("--batch-labeled", type=int, default=20)
    p.add_argument("--batch-unlabeled", type=int, default=80)
    p.add_argument("--lr", type=float, default=0.003)
    p.add_argument("--lambda-stab", type=float, default=100.0)
    p.add_argument("--ema-decay", type=float, default=0.97)
    p.add_argument("--rampup-steps", type=int, default=100)
    p.add_argument("--shift", type=int, default=2)
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--normalization", choices=["unit", "center", "standardize"], default="standardize",
                   help="pixel scaling; the reference code standardizes per channel (METHODS.md §1.3), which also "
                        "sets the reconstruction terms' scale relative to cross-entropy (lambda = 1)")
    p.add_argument("--curve-every", type=int, default=0, help="log the EMA test accuracy every N steps (0: only at the end)")
    p.add_argument("--threads", type=int, default=0, help="TensorFlow intra-/inter-op threads (0: all cores)")
    p.add_argument("--out", default="benchmarks/runs")
    p.add_argument("--summarize", nargs="+", metavar="JSON",
                   help="print the table of earlier result files (merged; e.g. seeds run in parallel) and exit")
    args = p.parse_args(argv)
    if args.summarize:
        runs = [json.loads(Path(f).read_text()) for f in args.summarize]
        print(table([r for run in runs for r in run["results"]], runs[0]["args"]["dataset"]))
        return
    set_threads(args.threads)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    ds = load(args)
    results = []
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"hybridnet_{args.dataset}_{time.strftime('%Y%m%dT%H%M%S')}_{os.getpid()}.json"  # runs side by side
    for seed in args.seeds:
        for cfg in args.configs:
            r = run_one(ds, cfg, seed, args)
            results.append(r)
            print(f"{cfg} seed {seed}: EMA {r['accuracy_ema']:.2f}% raw {r['accuracy_raw']:.2f}% "
                  f"step {r['step_time_median_s']:.3f}s train {r['train_time_s']:.0f}s ({r['train_cpu_minutes']} CPU-min)",
                  flush=True)
            path.write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    print(table(results, args.dataset))
    print(f"results: {path}")


if __name__ == "__main__":
    main()

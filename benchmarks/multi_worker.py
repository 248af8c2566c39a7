"""Multi-worker throughput on this machine (issue 17): one worker on one core vs two workers on two
cores, same global batch, measured on the real commands (no training loop of its own here).

Per pipeline, rounds of (interleaved, in one job, so the machine's load is shared alike)::

    A  taskset -c 0 kedro run --pipelines=X --params "<budget>,runtime.threads=1"
    B  taskset -c 0 ssl-pipelines launch --workers 127.0.0.1:P0,127.0.0.1:P1 --index 0 -- run ...   (same params)
       taskset -c 1 ssl-pipelines launch --workers 127.0.0.1:P0,127.0.0.1:P1 --index 1 -- run ...

Step time comes from the MLflow run (the chief's for B): ``MlflowMetricsLogger`` logs every epoch's
``<stage>.loss`` once, at the epoch's end, so the gap between two consecutive timestamps is one
epoch (its training steps, the validation pass over the 50 validation images and the callbacks);
step time = median over epochs 2..E of gap / steps_per_epoch (epoch 1 holds the tracing), and
images/s = global batch / step time. Where the stage also logs ``<stage>.images_per_second``
(``ThroughputLogger``), its median over epochs 2..E is kept beside it (``logged_images_per_second``).

All-reduce traffic: every step all-reduces the gradients of the trainable variables, float32:
``G = 4 x trainable parameters`` bytes; a ring all-reduce over N workers sends (and receives)
``2 (N-1) / N x G`` bytes per worker per step (parameter counts read from the chief's model file).

    nice -n 10 .venv/bin/python benchmarks/multi_worker.py --pipelines supervised,r2d2 --rounds 3

(takes both cores: run it alone, on this machine with ``tfslot2 .venv/bin/python benchmarks/multi_worker.py ...``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save_result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

#: per pipeline: the timed stage, its steps per epoch and global batch, the model file whose
#: trainable variables that stage's steps all-reduce, and the budget (tiny other stages)
CONFIGS = {
    "supervised": {
        "stage": "supervised", "steps": 25, "batch": 32, "model": "trained_model.keras",
        "params": "supervised.train.epochs=6,supervised.train.steps_per_epoch=25,supervised.train.verbose=0",
    },
    "r2d2": {
        "stage": "d2", "steps": 25, "batch": 16 + 48, "model": "d2_model.keras",
        "params": ("r2d2.supervised.epochs=1,r2d2.supervised.steps_per_epoch=2,r2d2.supervised.verbose=0,"
                   "r2d2.d2.epochs=6,r2d2.d2.steps_per_epoch=25,r2d2.d2.repredict_at=[],r2d2.d2.lr_schedule=[],"
                   "r2d2.d2.verbose=0,r2d2.finetune.epochs=1,r2d2.finetune.steps_per_epoch=2,"
                   "r2d2.finetune.verbose=0"),
    },
}


def project_copy(dest: Path) -> Path:
    """A runnable copy of the project (conf without local, pyproject, empty data layers, empty src)."""
    dest.mkdir(parents=True)
    shutil.copytree(REPO / "conf", dest / "conf", ignore=shutil.ignore_patterns("local"))
    (dest / "conf" / "local").mkdir()
    shutil.copy(REPO / "pyproject.toml", dest / "pyproject.toml")
    (dest / "src").mkdir()
    for layer in ("01_raw", "03_primary", "06_models", "07_model_output", "08_reporting"):
        (dest / "data" / layer).mkdir(parents=True)
    return dest


def env_for(project: Path, tmp: Path) -> dict:
    return {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}", "TMPDIR": str(tmp),
            "TF_CPP_MIN_LOG_LEVEL": "2", "KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1", "MPLBACKEND": "Agg"}


def kedro_args(pipeline: str) -> list[str]:
    return ["run", f"--pipelines={pipeline}", "--params", CONFIGS[pipeline]["params"] + ",runtime.threads=1"]


def run_one(pipeline: str, root: Path) -> Path:
    project = project_copy(root / "single")
    cmd = ["taskset", "-c", "0", str(BIN / "kedro"), *kedro_args(pipeline)]
    done = subprocess.run(cmd, cwd=project, env=env_for(project, root), capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return project


def run_two(pipeline: str, root: Path) -> Path:
    from ssl_pipelines.launch import free_ports

    workers = ",".join(f"127.0.0.1:{p}" for p in free_ports(2))
    projects = [project_copy(root / f"worker{k}") for k in range(2)]
    procs = [subprocess.Popen(["taskset", "-c", str(k), str(BIN / "ssl-pipelines"), "launch", "--workers", workers,
                               "--index", str(k), "--", *kedro_args(pipeline)],
                              cwd=projects[k], env=env_for(projects[k], root), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for k in range(2)]
    outs = [p.communicate()[0] for p in procs]
    for k, (p, out) in enumerate(zip(procs, outs)):
        if p.returncode:
            raise RuntimeError(f"worker {k} of {pipeline} failed:\n{out[-3000:]}")
    return projects[0]


def step_time(project: Path, pipeline: str) -> dict:
    """Median seconds per step of the timed stage (epochs 2..E) from the run's metric timestamps."""
    import mlflow

    cfg = CONFIGS[pipeline]
    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    stamps = [m.timestamp for m in sorted(client.get_metric_history(run.info.run_id, f"{cfg['stage']}.loss"),
                                          key=lambda m: m.step)]
    per_step = [(b - a) / 1000.0 / cfg["steps"] for a, b in zip(stamps, stamps[1:])]
    seconds = statistics.median(per_step)
    # the stage's own throughput metric, where the pipelines log one (ThroughputLogger, later main)
    logged = [m.value for m in sorted(client.get_metric_history(run.info.run_id, f"{cfg['stage']}.images_per_second"),
                                      key=lambda m: m.step)][1:]
    return {"run_id": run.info.run_id, "num_workers": run.data.tags.get("num_workers"),
            "epoch_step_times": per_step, "step_time": seconds, "images_per_second": cfg["batch"] / seconds,
            "logged_images_per_second": statistics.median(logged) if logged else None,
            "final_loss": run.data.metrics.get(f"{cfg['stage']}.loss")}


def trainable_parameters(model_file: Path) -> int:
    import keras
    import numpy as np

    import ssl_pipelines.methods  # noqa: F401  (registers the classes)

    model = keras.saving.load_model(model_file, compile=False)
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def ring_bytes(params: int, n: int) -> float:
    """Bytes each worker sends per step in a ring all-reduce of ``params`` float32 gradients."""
    return 2 * (n - 1) / n * 4 * params


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", default="supervised,r2d2")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    pipelines = [p for p in args.pipelines.split(",") if p]
    rows, start = [], time.time()
    with tempfile.TemporaryDirectory(prefix="multi_worker_bench_") as tmp:
        for pipeline in pipelines:
            for r in range(args.rounds):
                for mode in ("1 worker", "2 workers"):  # A B A B ...
                    root = Path(tmp) / f"{pipeline}-{r}-{mode[0]}"
                    root.mkdir()
                    load_before = os.getloadavg()[0]
                    t0 = time.time()
                    project = run_one(pipeline, root) if mode == "1 worker" else run_two(pipeline, root)
                    row = {"pipeline": pipeline, "round": r, "mode": mode, "wall_seconds": time.time() - t0,
                           "load_before": load_before, "load_after": os.getloadavg()[0], **step_time(project, pipeline)}
                    if r == 0 and mode == "2 workers":
                        row["trainable_parameters"] = trainable_parameters(
                            project / "data/06_models" / pipeline / CONFIGS[pipeline]["model"])
                    rows.append(row)
                    print(f"{pipeline} round {r} {mode}: {row['step_time'] * 1000:.1f} ms/step, "
                          f"{row['images_per_second']:.0f} img/s, load {load_before:.2f}->{row['load_after']:.2f}, "
                          f"wall {row['wall_seconds']:.0f} s", flush=True)
                    shutil.rmtree(root, ignore_errors=True)
    summary = []
    for pipeline in pipelines:
        mine = [r for r in rows if r["pipeline"] == pipeline]
        one = [r["images_per_second"] for r in mine if r["mode"] == "1 worker"]
        two = [r["images_per_second"] for r in mine if r["mode"] == "2 workers"]
        ratios = [b / a for a, b in zip(one, two)]  # per round: each B against the A just before it
        params = next(r["trainable_parameters"] for r in mine if "trainable_parameters" in r)
        summary.append({
            "pipeline": pipeline, "stage": CONFIGS[pipeline]["stage"], "global_batch": CONFIGS[pipeline]["batch"],
            "step_ms_1": statistics.median(r["step_time"] for r in mine if r["mode"] == "1 worker") * 1000,
            "step_ms_2": statistics.median(r["step_time"] for r in mine if r["mode"] == "2 workers") * 1000,
            "img_s_1": statistics.median(one), "img_s_2": statistics.median(two),
            "ratio_median": statistics.median(ratios), "ratios": ratios,
            "load": statistics.mean([r["load_before"] for r in mine] + [r["load_after"] for r in mine]),
            "trainable_parameters": params, "allreduce_bytes": {n: ring_bytes(params, n) for n in (2, 4, 8, 16)},
        })
    path = save_result("multi_worker", {"rounds": rows, "summary": summary, "wall_seconds": time.time() - start})
    print("| pipeline (timed stage) | global batch | 1 worker ms/step | 2 workers ms/step | 1 worker img/s | "
          "2 workers img/s | ratio 2/1 (per round) | load avg | trainable params | all-reduce bytes/step/worker, N=2 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for s in summary:
        print(f"| {s['pipeline']} ({s['stage']}) | {s['global_batch']} | {s['step_ms_1']:.1f} | {s['step_ms_2']:.1f} | "
              f"{s['img_s_1']:.0f} | {s['img_s_2']:.0f} | {s['ratio_median']:.2f} "
              f"({', '.join(f'{x:.2f}' for x in s['ratios'])}) | {s['load']:.2f} | {s['trainable_parameters']:,} | "
              f"{s['allreduce_bytes'][2] / 1e6:.2f} MB |")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
images/s = global batch / step time (the stage's own ``<stage>.step_ms`` stays in the run beside it).

All-reduce traffic: every step all-reduces the gradients of the trainable variables, float32:
``G = 4 x trainable parameters`` bytes; a ring all-reduce over N workers sends (and receives)
``2 (N-1) / N x G`` bytes per worker per step (parameter counts read from the chief's model file).

    nice -n 10 .venv/bin/python benchmarks/multi_worker.py --pipelines supervised,r2d2 --rounds 3

(takes both cores: run it alone). Every run (A, and B's chief) is an MLflow run of the committed store
``benchmarks/stores/multi_worker.db``, made a child of one parent run ``bench-multi-worker`` (tags
``method`` = pipeline, ``variant`` = ``1 worker`` / ``2 workers``, ``seed`` = round) with the metrics
measured here (``bench.step_ms``, ``bench.images_per_second``, ``bench.trainable_parameters``,
``bench.allreduce_mb``, ``sweep.load_average``); the RESULTS.md section ``multi_worker`` is then
written from that store (``ssl-pipelines results --section multi_worker``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import portable_uri, store_uri, write_section  # noqa: E402

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


def env_for(project: Path, tmp: Path, store: str | None = None) -> dict:
    """The environment of one command: its MLflow runs go to ``store`` (else the copy's own store)."""
    return {**os.environ, "MLFLOW_TRACKING_URI": store or f"sqlite:///{project / 'mlflow.db'}", "TMPDIR": str(tmp),
            "MLFLOW_EXPERIMENT_NAME": EXPERIMENT, "TF_CPP_MIN_LOG_LEVEL": "2", "KEDRO_DISABLE_TELEMETRY": "1",
            "DO_NOT_TRACK": "1", "MPLBACKEND": "Agg"}


EXPERIMENT = "multi_worker"


def kedro_args(pipeline: str) -> list[str]:
    return ["run", f"--pipelines={pipeline}", "--params", CONFIGS[pipeline]["params"] + ",runtime.threads=1"]


def run_one(pipeline: str, root: Path, store: str) -> Path:
    project = project_copy(root / "single")
    cmd = ["taskset", "-c", "0", str(BIN / "kedro"), *kedro_args(pipeline)]
    done = subprocess.run(cmd, cwd=project, env=env_for(project, root, store), capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return project


def run_two(pipeline: str, root: Path, store: str) -> Path:
    from ssl_pipelines.launch import free_ports

    workers = ",".join(f"127.0.0.1:{p}" for p in free_ports(2))
    projects = [project_copy(root / f"worker{k}") for k in range(2)]
    procs = [subprocess.Popen(["taskset", "-c", str(k), str(BIN / "ssl-pipelines"), "launch", "--workers", workers,
                               "--index", str(k), "--", *kedro_args(pipeline)],
                              cwd=projects[k], env=env_for(projects[k], root, store if k == 0 else None),
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for k in range(2)]
    outs = [p.communicate()[0] for p in procs]
    for k, (p, out) in enumerate(zip(procs, outs)):
        if p.returncode:
            raise RuntimeError(f"worker {k} of {pipeline} failed:\n{out[-3000:]}")
    return projects[0]


def step_time(client, run, pipeline: str) -> dict:
    """Median seconds per step of the timed stage (epochs 2..E) from the run's metric timestamps."""
    cfg = CONFIGS[pipeline]
    stamps = [m.timestamp for m in sorted(client.get_metric_history(run.info.run_id, f"{cfg['stage']}.loss"),
                                          key=lambda m: m.step)]
    per_step = [(b - a) / 1000.0 / cfg["steps"] for a, b in zip(stamps, stamps[1:])]
    seconds = statistics.median(per_step)
    return {"run_id": run.info.run_id, "num_workers": run.data.tags.get("num_workers"),
            "step_time": seconds, "images_per_second": cfg["batch"] / seconds,
            "final_loss": run.data.metrics.get(f"{cfg['stage']}.loss")}


def new_run(client, experiment_id: str, since_ms: int):
    """The run the command just made in the shared store (the newest top-level run since ``since_ms``)."""
    runs = client.search_runs([experiment_id], filter_string=f"attributes.start_time >= {since_ms}",
                              order_by=["attributes.start_time DESC"])
    runs = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    if not runs:
        raise RuntimeError(f"no MLflow run of the command in {client.tracking_uri}")
    return runs[0]


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
    parser.add_argument("--tracking-uri", default=store_uri("multi_worker"),
                        help="MLflow store of the runs and of the section (default benchmarks/stores/multi_worker.db)")
    parser.add_argument("--run-name", default="bench-multi-worker")
    parser.add_argument("--no-write", action="store_true", help="print the RESULTS.md section instead of writing it")
    args = parser.parse_args(argv)
    pipelines = [p for p in args.pipelines.split(",") if p]
    unknown = [p for p in pipelines if p not in CONFIGS]
    if not pipelines or unknown or args.rounds < 1:
        parser.error(f"--pipelines expects some of {','.join(CONFIGS)} and --rounds a positive count, "
                     f"got {args.pipelines!r}, {args.rounds}")
    import mlflow

    from ssl_pipelines.hooks import sqlite_store_path

    uri, store = args.tracking_uri, sqlite_store_path(args.tracking_uri)
    if store is not None:
        uri = f"sqlite:///{store.resolve()}"  # the commands run in project copies
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(EXPERIMENT)
    command = ("nice -n 10 .venv/bin/python benchmarks/multi_worker.py "
               f"--pipelines {','.join(pipelines)} --rounds {args.rounds}")
    parent = client.create_run(experiment_id, run_name=args.run_name, tags={
        "sweep": "true", "sweep.command": command, "sweep.pipelines": ",".join(pipelines),
        "sweep.seeds": ",".join(str(r) for r in range(args.rounds)), "sweep.store": portable_uri(args.tracking_uri)})
    status = "FAILED"
    try:
        with tempfile.TemporaryDirectory(prefix="multi_worker_bench_") as tmp:
            for pipeline in pipelines:
                for r in range(args.rounds):
                    for mode in ("1 worker", "2 workers"):  # A B A B ...
                        root = Path(tmp) / f"{pipeline}-{r}-{mode[0]}"
                        root.mkdir()
                        load = os.getloadavg()[0]
                        t0 = time.time()
                        project = run_one(pipeline, root, uri) if mode == "1 worker" else run_two(pipeline, root, uri)
                        run = new_run(client, experiment_id, int(t0 * 1000))
                        row = step_time(client, run, pipeline)
                        for key, value in {"mlflow.parentRunId": parent.info.run_id, "sweep.parent": parent.info.run_id,
                                           "method": pipeline, "variant": mode, "seed": str(r)}.items():
                            client.set_tag(run.info.run_id, key, value)
                        metrics = {"bench.step_ms": 1000 * row["step_time"],
                                   "bench.images_per_second": row["images_per_second"],
                                   "sweep.load_average": round(load, 2)}
                        if mode == "2 workers":
                            params = trainable_parameters(project / "data/06_models" / pipeline / CONFIGS[pipeline]["model"])
                            metrics.update({"bench.trainable_parameters": params,
                                            "bench.allreduce_mb": ring_bytes(params, 2) / 1e6})
                        for key, value in metrics.items():
                            client.log_metric(run.info.run_id, key, float(value))
                        print(f"{pipeline} round {r} {mode}: {metrics['bench.step_ms']:.1f} ms/step, "
                              f"{row['images_per_second']:.0f} img/s, final {CONFIGS[pipeline]['stage']}.loss "
                              f"{row['final_loss']}, load {load:.2f}, wall {time.time() - t0:.0f} s, run "
                              f"{run.info.run_id}", flush=True)
                        shutil.rmtree(root, ignore_errors=True)
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        client.set_terminated(parent.info.run_id, status=status)
    return write_section("multi_worker", uri, args.no_write)


if __name__ == "__main__":
    sys.exit(main())

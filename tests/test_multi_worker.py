"""Multi-worker training (issue 17): the launcher's command line and TF_CONFIG, and real
two-worker clusters on 127.0.0.1 (free ports picked at run time), each worker its own process.

The cluster tests run two TensorFlow processes at once (both cores)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ssl_pipelines.data import ConfigError
from ssl_pipelines.launch import free_ports, kedro_args_with_strategy, parse_workers, tf_config, worker_command


def test_tf_config_names_the_cluster_and_this_worker():
    workers = parse_workers("127.0.0.1:2000, 127.0.0.1:2001")
    assert workers == ["127.0.0.1:2000", "127.0.0.1:2001"]
    assert tf_config(workers, 1) == {"cluster": {"worker": workers}, "task": {"type": "worker", "index": 1}}
    command, env = worker_command(workers, 0, ["run", "--pipelines=supervised"], env={})
    assert json.loads(env["TF_CONFIG"])["task"]["index"] == 0
    assert command[1:] == ["-m", "kedro", "run", "--pipelines=supervised", "--params", "runtime.strategy=multi_worker"]


@pytest.mark.parametrize("args, expected", [
    (["run", "--params", "a=1"], ["run", "--params", "a=1,runtime.strategy=multi_worker"]),
    (["run", "--params=a=1"], ["run", "--params=a=1,runtime.strategy=multi_worker"]),
])
def test_strategy_is_added_to_existing_params(args, expected):
    assert kedro_args_with_strategy(args) == expected


@pytest.mark.parametrize("workers, index, match", [
    ("127.0.0.1", 0, r"'127.0.0.1' is not a host:port"),
    ("h:1,h:1", 0, r"lists an address twice"),
    ("h:1,h:2", 2, r"--index must be an integer in \[0, 1\] for 2 workers, got 2"),
    ("h:99999", 0, r"port 1-65535"),
])
def test_bad_cluster_is_rejected_with_the_bad_value(workers, index, match):
    with pytest.raises(ConfigError, match=match):
        tf_config(parse_workers(workers), index)


def test_launch_needs_a_kedro_command():
    with pytest.raises(ConfigError, match=r"give the kedro command after `--`"):
        kedro_args_with_strategy([])


def test_free_ports_are_distinct():
    ports = free_ports(3)
    assert len(set(ports)) == 3 and all(0 < p < 65536 for p in ports)


def test_cli_dispatches_launch(capsys):
    from ssl_pipelines.cli import main

    assert main(["launch", "--workers", "127.0.0.1:2000,127.0.0.1:2001", "--index", "1", "--print",
                 "--", "run", "--pipelines=supervised"]) == 0
    out = capsys.readouterr().out
    assert '"index": 1' in out and "runtime.strategy=multi_worker" in out


# --- two-worker clusters ------------------------------------------------------------------------

LIBRARY_RUN = r"""
import json, sys
import numpy as np
import keras, tensorflow as tf
from ssl_pipelines.training.distribute import make_strategy, num_workers, is_chief
strategy = make_strategy(sys.argv[1])
from ssl_pipelines.methods import SupervisedClassifier
from ssl_pipelines.models import build_backbone
from ssl_pipelines.data.streams import ssl_stream
from ssl_pipelines.training import fit_model, set_global_seed
set_global_seed(0)
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 8, 8, 1)).astype("float32"); y = rng.integers(0, 10, 64).astype("int32")
with strategy.scope():
    model = SupervisedClassifier(build_backbone("mlp", (8, 8, 1), 10, hidden_units=[16]))
    model.compile(optimizer=keras.optimizers.SGD(0.1))
stream = ssl_stream(x, y, batch_labeled=16, seed=0, augment={"max_shift": 1})
history = fit_model(model, stream, epochs=2, steps_per_epoch=4, verbose=0)
weights = float(sum(np.abs(w).sum() for w in model.get_weights()))
print("RESULT", json.dumps({"workers": num_workers(strategy), "chief": is_chief(strategy), "history": history,
                            "weights": weights}))
"""


def _env(**extra):
    src = str(Path(__file__).resolve().parents[1] / "src")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p),
            "TF_CPP_MIN_LOG_LEVEL": "2", "KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1", "MPLBACKEND": "Agg",
            "COLUMNS": "200", **extra}


def _cluster(n: int) -> list[str]:
    return [f"127.0.0.1:{p}" for p in free_ports(n)]


def _result(out: str) -> dict:
    return json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[len("RESULT "):])


@pytest.mark.timeout(300)
def test_two_workers_train_like_one_process_on_the_global_batch():
    """Two worker processes (global batch 16 = 8 + 8 rows, augmented in the stream) give the
    curves and final weights of one process on batches of 16, within 1e-5; only worker 0 is chief."""
    workers = _cluster(2)
    procs = [subprocess.Popen([sys.executable, "-c", LIBRARY_RUN, "multi_worker"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              env=_env(TF_CONFIG=json.dumps(tf_config(workers, k)))) for k in range(2)]
    outs = [p.communicate(timeout=240)[0] for p in procs]
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-3000:]
    single = subprocess.run([sys.executable, "-c", LIBRARY_RUN, "default"], capture_output=True, text=True,
                            env=_env(), timeout=240)
    assert single.returncode == 0, single.stderr[-3000:]
    one = _result(single.stdout)
    two = [_result(out) for out in outs]
    assert [r["workers"] for r in two] == [2, 2] and [r["chief"] for r in two] == [True, False]
    for r in two:
        assert r["history"].keys() == one["history"].keys()
        for key, values in one["history"].items():
            assert r["history"][key] == pytest.approx(values, abs=1e-5), key
        assert r["weights"] == pytest.approx(one["weights"], rel=1e-5)
    assert one["history"]["loss"][1] < one["history"]["loss"][0]  # it trained


def _launch(project: Path, workers: list[str], index: int, args: list[str], tmp: Path):
    cli = os.path.join(os.path.dirname(sys.executable), "ssl-pipelines")
    return subprocess.Popen([cli, "launch", "--workers", ",".join(workers), "--index", str(index), "--", *args],
                            cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=_env(MLFLOW_TRACKING_URI=f"sqlite:///{project / 'mlflow.db'}", TMPDIR=str(tmp)))


def _runs(project: Path):
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    return client, client.search_runs([e.experiment_id for e in client.search_experiments()])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_worker_kedro_run_writes_one_run_and_one_model_on_the_chief(tmp_path):
    """``ssl-pipelines launch`` on two workers, each in its own project copy (as on two machines):
    both exit 0; the chief's store holds one FINISHED run tagged num_workers=2 with the curves; the
    model file exists once, on the chief; the other worker's scratch folder is gone and its project
    holds no file; the curves equal a single-process run of the same global batch within 1e-5."""
    from conftest import make_project_copy

    params = ("supervised.train.epochs=2,supervised.train.steps_per_epoch=3,supervised.train.verbose=0,"
              "supervised.model.backbone_kwargs.dropout=0.0")  # dropout masks are drawn per replica
    args = ["run", "--pipelines=supervised", "--params", params]
    projects = [make_project_copy(tmp_path / f"worker{k}") for k in range(2)]
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    workers = _cluster(2)
    procs = [_launch(projects[k], workers, k, args, scratch) for k in range(2)]
    outs = [p.communicate(timeout=500)[0] for p in procs]
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-4000:]
    models = sorted(f for f in tmp_path.rglob("*.keras") if "mlruns" not in f.parts)  # + the run's artifact copy
    assert models == [projects[0] / "data/06_models/supervised/trained_model.keras"]
    assert [f for f in (projects[1] / "data").rglob("*") if f.is_file()] == []
    assert not (projects[1] / "mlflow.db").exists() and not (projects[1] / "mlruns").exists()
    assert list(scratch.iterdir()) == []
    client, runs = _runs(projects[0])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED" and runs[0].data.tags["num_workers"] == "2"
    curve = [m.value for m in client.get_metric_history(runs[0].info.run_id, "supervised.loss")]
    assert len(curve) == 2

    single = make_project_copy(tmp_path / "single")
    kedro = os.path.join(os.path.dirname(sys.executable), "kedro")
    done = subprocess.run([kedro, *args], cwd=single, capture_output=True, text=True, timeout=400,
                          env=_env(MLFLOW_TRACKING_URI=f"sqlite:///{single / 'mlflow.db'}"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    one = json.loads((single / "data/07_model_output/supervised/training_history.json").read_text())
    two = json.loads((projects[0] / "data/07_model_output/supervised/training_history.json").read_text())
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert two[key] == pytest.approx(one[key], abs=1e-5), key

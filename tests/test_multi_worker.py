"""Multi-worker training: the launcher's command line and TF_CONFIG, and real
two-worker clusters on 127.0.0.1 (free ports picked at run time), each worker its own process.

The cluster tests run two TensorFlow processes at once (both cores)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ssl_pipelines.cli import parse_params, set_dotted
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


def test_scratch_of_a_killed_launcher_is_removed_by_the_next(tmp_path):
    """A launcher killed with SIGKILL cannot delete its scratch project; the next launcher deletes
    every scratch folder whose launcher is gone, and nothing else."""
    from ssl_pipelines.launch import OWNER_FILE, remove_stale_scratch

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folders = {}
    for name, owner in [("dead", dead.pid), ("alive", os.getpid()), ("unowned", None)]:
        folders[name] = tmp_path / f"ssl_pipelines_worker1_{name}"
        (folders[name] / "data").mkdir(parents=True)
        if owner is not None:
            (folders[name] / OWNER_FILE).write_text(f"{owner}\n")
    (folders["dead"] / "conf").symlink_to(tmp_path / "project_conf")  # a link into the project: not followed
    (tmp_path / "project_conf").mkdir()
    (tmp_path / "project_conf" / "keep.yml").write_text("kept: true\n")
    assert remove_stale_scratch(tmp_path) == [folders["dead"]]
    assert not folders["dead"].exists() and folders["alive"].exists() and folders["unowned"].exists()
    assert (tmp_path / "project_conf" / "keep.yml").exists()


# --- two-worker clusters ------------------------------------------------------------------------

LIBRARY_RUN = r"""
import json, os, sys
import numpy as np
import keras, tensorflow as tf
from ssl_pipelines.training.distribute import make_strategy, num_workers, is_chief
strategy = make_strategy(sys.argv[1])
checkpoint_dir = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
stop_at = int(sys.argv[3]) if len(sys.argv) > 3 else 0
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


class Stop(keras.callbacks.Callback):  # a worker dying at the start of epoch stop_at (its checkpoint saved)
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == stop_at:
            os._exit(3)


history = fit_model(model, stream, epochs=2, steps_per_epoch=4, verbose=0, checkpoint_dir=checkpoint_dir,
                    callbacks=[Stop()] if stop_at else None)
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


_SINGLE: list[dict] = []


def _single_library_run() -> dict:
    """The library script with the default strategy (one process), run once per test process and
    in it: the script seeds everything it draws, and this process has the TensorFlow thread
    settings of the workers it is compared with (a subprocess would cost a TensorFlow start-up)."""
    if not _SINGLE:
        import contextlib
        import io

        out, argv = io.StringIO(), sys.argv
        sys.argv = ["library-run", "default"]
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(LIBRARY_RUN, "<LIBRARY_RUN>", "exec"), {"__name__": "library_run"})
        finally:
            sys.argv = argv
        _SINGLE.append(_result(out.getvalue()))
    return _SINGLE[0]


def _library_cluster(*args_of_worker) -> list[subprocess.Popen]:
    workers = _cluster(2)
    return [subprocess.Popen([sys.executable, "-c", LIBRARY_RUN, "multi_worker", *args_of_worker[k]],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=_env(TF_CONFIG=json.dumps(tf_config(workers, k)))) for k in range(2)]


def _assert_like_one_process(two: list[dict]) -> None:
    one = _single_library_run()
    assert [r["workers"] for r in two] == [2, 2] and [r["chief"] for r in two] == [True, False]
    for r in two:
        assert r["history"].keys() == one["history"].keys()
        for key, values in one["history"].items():
            assert r["history"][key] == pytest.approx(values, abs=1e-5), key
        assert r["weights"] == pytest.approx(one["weights"], rel=1e-5)
    assert one["history"]["loss"][1] < one["history"]["loss"][0]  # it trained


@pytest.mark.heavy(25)
@pytest.mark.timeout(300)
def test_two_workers_train_like_one_process_on_the_global_batch():
    """Two worker processes (global batch 16 = 8 + 8 rows, augmented in the stream) give the
    curves and final weights of one process on batches of 16, within 1e-5; only worker 0 is chief."""
    procs = _library_cluster((), ())
    outs = [p.communicate(timeout=240)[0] for p in procs]
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-3000:]
    _assert_like_one_process([_result(out) for out in outs])


@pytest.mark.heavy(30)
@pytest.mark.timeout(400)
def test_two_workers_resume_from_the_chiefs_checkpoint_like_one_process(tmp_path):
    """Both workers die after epoch 1 of 2 (the chief's checkpoint written; the other worker has
    no files); two new processes resume: the chief reads the checkpoint, every worker creates the
    same variables (Keras' global seed state included: creating one is a collective) and receives
    the chief's state (float weights and int64 counters and seed states), and the run ends with
    the curves and weights of one uninterrupted process."""
    chief_dir, other_dir = tmp_path / "chief", tmp_path / "other"
    procs = _library_cluster((str(chief_dir), "1"), (str(other_dir), "1"))
    outs = [p.communicate(timeout=240)[0] for p in procs]
    assert [p.returncode for p in procs] == [3, 3], outs[0][-2000:] + outs[1][-2000:]
    assert json.loads((chief_dir / "state.json").read_text())["epoch"] == 1
    assert not other_dir.exists()
    procs = _library_cluster((str(chief_dir),), (str(other_dir),))
    outs = [p.communicate(timeout=240)[0] for p in procs]
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-3000:]
    assert not other_dir.exists()
    _assert_like_one_process([_result(out) for out in outs])


def _run_two_workers(tmp_path: Path, args: list[str], chief_store: bool = False) -> list[Path]:
    """Two ``ssl-pipelines launch`` workers of ``kedro <args>`` in project copies ``worker0`` (the
    chief; with ``chief_store`` an MLflow store of its own) and ``worker1``, scratch in ``tmp/``;
    asserts both exit 0 and returns the two projects."""
    from conftest import make_project_copy

    projects = [make_project_copy(tmp_path / f"worker{k}", mlflow_db=chief_store and k == 0) for k in range(2)]
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    workers = _cluster(2)
    procs = [_launch(projects[k], workers, k, args, scratch) for k in range(2)]
    outs = [p.communicate(timeout=500)[0] for p in procs]
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-4000:]
    return projects


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
@pytest.mark.heavy(44)
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
    projects = _run_two_workers(tmp_path, args)
    models = sorted(f for f in tmp_path.rglob("*.keras") if "mlruns" not in f.parts)  # + the run's artifact copy
    assert models == [projects[0] / "data/06_models/supervised/trained_model.keras"]
    assert [f for f in (projects[1] / "data").rglob("*") if f.is_file()] == []
    assert not (projects[1] / "mlflow.db").exists() and not (projects[1] / "mlruns").exists()
    assert list((tmp_path / "tmp").iterdir()) == []
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


def _curves(project: Path) -> dict[str, list[float]]:
    """Every metric of the project's one run, as values ordered by step."""
    client, runs = _runs(project)
    assert len(runs) == 1, [r.info.status for r in runs]
    return {key: [m.value for m in sorted(client.get_metric_history(runs[0].info.run_id, key), key=lambda m: m.step)]
            for key in runs[0].data.metrics}


TIMING = ("per_second", "time", "minutes", "step_ms")  # wall-clock metrics differ between any two runs
#: R2-D2's three stages cut to a few steps; stage 2 repredicts after its first epoch, so the
#: pseudo-label table (all-gathered across replicas in every step) and a reprediction are both in
R2D2_TINY = ("r2d2.supervised.epochs=2,r2d2.supervised.steps_per_epoch=3,r2d2.supervised.verbose=0,"
             "r2d2.d2.epochs=2,r2d2.d2.steps_per_epoch=3,r2d2.d2.repredict_at=[1],r2d2.d2.lr_schedule=[],"
             "r2d2.d2.verbose=0,r2d2.finetune.epochs=1,r2d2.finetune.steps_per_epoch=3,r2d2.finetune.verbose=0")
R2D2_MODELS = ("supervised_model.keras", "d2_model.keras", "trained_model.keras")


@pytest.mark.heavy(60)
@pytest.mark.timeout(600)
def test_two_worker_r2d2_kedro_run_matches_one_process(tmp_path, kedro_project):
    """``ssl-pipelines launch`` of R2-D2 (three stages; its learnable pseudo-label table is updated
    with every replica's rows, all-gathered across the workers) on two workers, each in its own
    project copy: both exit 0; the chief's store holds one FINISHED run tagged num_workers=2 whose
    every curve (losses, KL, entropy, pseudo-label change and accuracy per epoch, stage and test
    errors) equals a single-process ``kedro run`` of the same global batches within 1e-5 (LeNet has
    no dropout or batch norm, so no draw is made per replica); each model file exists once, on the
    chief; the other worker leaves no file and no scratch folder."""
    from conftest import make_project_copy

    # one thread each (two workers on two cores): runtime.threads is applied before the strategy
    # starts TensorFlow (ThreadsHooks runs first; it used to fail with any strategy but the default)
    args = ["run", "--pipelines=r2d2", "--params", R2D2_TINY + ",runtime.threads=1"]
    projects = _run_two_workers(tmp_path, args, chief_store=True)
    models = sorted(f for f in tmp_path.rglob("*.keras") if "mlruns" not in f.parts)
    assert models == sorted(projects[0] / "data/06_models/r2d2" / name for name in R2D2_MODELS)
    assert [f for f in (projects[1] / "data").rglob("*") if f.is_file()] == []
    assert not (projects[1] / "mlflow.db").exists() and not (projects[1] / "mlruns").exists()
    assert [e for e in (tmp_path / "tmp").iterdir() if e.name.startswith("ssl_pipelines_")] == []
    _, runs = _runs(projects[0])
    assert [(r.info.status, r.data.tags["num_workers"]) for r in runs] == [("FINISHED", "2")]
    two = _curves(projects[0])
    for key, steps in {"supervised.loss": 2, "d2.loss": 2, "d2.pseudo_label_change": 2, "finetune.loss": 1}.items():
        assert len(two[key]) == steps, key

    # the single-process reference runs in this test process (a third TensorFlow start-up saved);
    # runtime.threads cannot change once TensorFlow has started here, and the thread count does not
    # change these small nets' sums beyond the 1e-5 compared
    nested: dict = {}
    for key, value in parse_params(R2D2_TINY).items():  # --params text as the nested dict a KedroSession takes
        set_dotted(nested, key, value)
    single, _ = kedro_project("r2d2", params=nested)
    one = _curves(single)
    assert two.keys() == one.keys()
    for key, values in one.items():
        if not any(t in key for t in TIMING):
            assert two[key] == pytest.approx(values, abs=1e-5), key


SUPERVISED_8 = ["run", "--pipelines=supervised", "--params",
                "supervised.train.epochs=8,supervised.train.steps_per_epoch=4,supervised.train.verbose=0,"
                "supervised.train.deterministic=true"]
_UNINTERRUPTED: dict[str, dict] = {}


def _two_worker_run(root: Path, args: list[str], workers: list[str] | None = None):
    """Two launched workers in project copies ``root/worker0|1`` (``TMPDIR`` ``root/tmp``); waits
    for both. Returns the projects and the workers' outputs."""
    from conftest import make_project_copy

    projects = [root / f"worker{k}" for k in range(2)]
    if not projects[0].exists():
        projects = [make_project_copy(projects[k], mlflow_db=k == 0) for k in range(2)]
        (root / "tmp").mkdir()
    workers = workers or _cluster(2)
    procs = [_launch(projects[k], workers, k, args, root / "tmp") for k in range(2)]
    outs = [p.communicate(timeout=500)[0] for p in procs]
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-4000:]
    return projects, outs


def _uninterrupted(tmp_path_factory) -> dict:
    if "supervised" not in _UNINTERRUPTED:
        projects, _ = _two_worker_run(tmp_path_factory.mktemp("uninterrupted"), SUPERVISED_8)
        _UNINTERRUPTED["supervised"] = _curves(projects[0])
    return _UNINTERRUPTED["supervised"]


@pytest.mark.slow
@pytest.mark.heavy(90)  # kill_worker1 90 s (with the shared uninterrupted run), kill_chief 56 s
@pytest.mark.timeout(900)
@pytest.mark.parametrize("victim", [1, 0], ids=["kill_worker1", "kill_chief"])
def test_killed_worker_and_restart_continue_to_the_uninterrupted_result(victim, tmp_path, tmp_path_factory):
    """Two workers train ``supervised`` (8 epochs); once the chief has checkpointed 3 epochs one of
    them is SIGKILLed. The survivor stops by itself (TensorFlow's coordination service reports the
    lost task and aborts the collectives), else the test stops it. The same two commands started
    again: the chief resumes from its checkpoint, broadcasts it, and the run ends with exactly the
    curves and metrics of an uninterrupted two-worker run; the chief's store holds one FINISHED run
    with every epoch once, linked to the interrupted one (KILLED if the chief was killed, FAILED if
    the chief saw its peer die), none RUNNING; no checkpoint, scratch folder or non-chief file is left."""
    from conftest import make_project_copy

    expected = _uninterrupted(tmp_path_factory)
    projects = [make_project_copy(tmp_path / f"worker{k}", mlflow_db=k == 0) for k in range(2)]
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    workers = _cluster(2)
    procs = [_launch(projects[k], workers, k, SUPERVISED_8, scratch) for k in range(2)]
    meta = projects[0] / "data/06_models/checkpoints/supervised/train_supervised/supervised/state.json"
    killed_at, deadline = None, time.monotonic() + 300
    while time.monotonic() < deadline and all(p.poll() is None for p in procs):
        try:
            epoch = json.loads(meta.read_text())["epoch"]
        except (OSError, ValueError, KeyError):
            epoch = 0
        if epoch >= 3:
            procs[victim].send_signal(signal.SIGKILL)
            killed_at = epoch
            break
        time.sleep(0.05)
    assert killed_at is not None and killed_at < 8, "the run ended before it could be interrupted"
    survivor = procs[1 - victim]
    try:
        survivor.wait(timeout=120)
        stopped_by_itself = True
    except subprocess.TimeoutExpired:
        survivor.terminate()
        survivor.wait(timeout=60)
        stopped_by_itself = False
    for p in procs:
        p.communicate()
    assert survivor.returncode != 0  # it did not finish alone
    assert not (projects[0] / "data/08_reporting/supervised/evaluation_report.json").exists()

    _, outs = _two_worker_run(tmp_path, SUPERVISED_8, workers)  # the same two commands again
    assert "resuming from epoch" in outs[0]
    client, runs = _runs(projects[0])
    by_status = {r.info.status: r for r in runs}
    interrupted = "KILLED" if victim == 0 else "FAILED"
    assert sorted(by_status) == sorted(["FINISHED", interrupted]), [r.info.status for r in runs]
    finished, old = by_status["FINISHED"], by_status[interrupted]
    assert finished.data.tags["num_workers"] == "2"
    assert old.data.tags["ssl_pipelines.resumed_by"] == finished.info.run_id
    assert finished.data.tags["ssl_pipelines.resumes"] == old.info.run_id
    got = {key: [m.value for m in sorted(client.get_metric_history(finished.info.run_id, key), key=lambda m: m.step)]
           for key in finished.data.metrics}
    assert len(got["supervised.loss"]) == 8
    untimed = {k for k in expected if not any(t in k for t in TIMING)}
    assert {k for k in got if not any(t in k for t in TIMING)} == untimed
    for key in untimed:
        assert got[key] == pytest.approx(expected[key], abs=1e-6), key
    assert not (projects[0] / "data/06_models/checkpoints/supervised").exists()
    assert [f for f in (projects[1] / "data").rglob("*") if f.is_file()] == []
    assert [e for e in scratch.iterdir() if e.name.startswith("ssl_pipelines_")] == []
    print(f"killed worker {victim} at epoch {killed_at}; survivor stopped by itself: {stopped_by_itself}")

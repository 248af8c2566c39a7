"""SIGKILL a multi-stage `kedro run` at a seeded random point (or during evaluation), run the
same command again: the store then holds one FINISHED run with every epoch's curve
once (the killed one KILLED, none RUNNING), and that run's final metrics equal an uninterrupted
run's. Subprocesses on digits with tiny epochs, all under ``--runslow`` (about 1 min each; the
default suite checks the same for a single-stage pipeline in
``test_runs_survive.py::test_killed_run_resumes_with_the_same_command_and_matches``)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import make_project_copy

DET = {"verbose": 0, "deterministic": True}
PIPELINES = {
    "r2d2": {"supervised": {"epochs": 4, **DET},
             "d2": {"epochs": 4, "repredict_at": [2, 3], "lr_schedule": [[3, 0.01]], **DET},
             "finetune": {"epochs": 3, **DET}},
    "m1_m2": {"m1": {"latent_dim": 8, "hidden_units": [64]},
              "m2": {"latent_dim": 4, "hidden_units": [32], "classifier_hidden_units": [32]},
              "stack": {"active_threshold": 0.0},  # 3 short epochs leave few units above 0.1
              "pretrain": {"epochs": 3, "steps_per_epoch": 6, **DET},
              "train": {"epochs": 4, "steps_per_epoch": 4, **DET}},
    "swwae_vgg": {"data": {"resize": None, "labels_per_class": 10, "validation_per_class": 2, "max_unlabeled": 64},
                  "model": {"backbone_kwargs": {"blocks": 3, "width": 0.125, "fc_units": 16, "dropout": 0.0}},
                  "pretrain": {"epochs": 3, "steps_per_epoch": 2, "batch_size": 16, **DET},
                  "decoder_layerwise": {"epochs": 2, "steps_per_epoch": 2, **DET},
                  "decoder_chained": {"epochs": 2, "steps_per_epoch": 2, **DET},
                  "finetune": {"epochs": 2, "steps_per_epoch": 3, **DET,
                               "loss": {"weights": {"image": 1.0, "pool1": 0.1, "pool2": 0.1, "pool3": 0.0,
                                                    "pool4": 0.0}}}},
}
TIMING = ("per_second", "time", "step_ms")  # wall-clock metrics differ between any two runs


def _deep_update(base: dict, new: dict) -> None:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _deep_update(base[k], v)
        else:
            base[k] = v


def _project(dest: Path, pipeline: str) -> Path:
    project = make_project_copy(dest)
    conf = project / "conf/base" / f"parameters_{pipeline}.yml"
    params = yaml.safe_load(conf.read_text())
    _deep_update(params[pipeline], PIPELINES[pipeline])
    conf.write_text(yaml.safe_dump(params))
    return project


def _command(project: Path, pipeline: str):
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}", "KEDRO_DISABLE_TELEMETRY": "1"}
    kedro = os.path.join(os.path.dirname(sys.executable), "kedro")
    return [kedro, "run", f"--pipelines={pipeline}"], env


def _run(project: Path, pipeline: str) -> None:
    cmd, env = _command(project, pipeline)
    done = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _epochs_done(tree: Path) -> int:
    total = 0
    for meta in tree.rglob("state.json"):
        try:
            total += int(json.loads(meta.read_text())["epoch"])
        except (OSError, ValueError, KeyError):
            pass
    return total


def _kill(project: Path, pipeline: str, at) -> str:
    """Start the command and SIGKILL it once ``at`` epochs (over all stages) are checkpointed, or,
    with ``at="evaluation"``, once the trained model is written (the evaluation nodes run next)."""
    cmd, env = _command(project, pipeline)
    tree = project / "data/06_models/checkpoints" / pipeline
    model = project / "data/06_models" / pipeline / "trained_model.keras"
    proc = subprocess.Popen(cmd, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, where = time.monotonic() + 300, None
    while time.monotonic() < deadline and proc.poll() is None:
        if at == "evaluation" and model.exists():
            where = "evaluation"
        elif at != "evaluation" and _epochs_done(tree) >= at:
            where = f"after {_epochs_done(tree)} checkpointed epochs"
        if where:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait(timeout=60)
    assert where is not None, "the run finished before it could be killed"
    assert not (project / "data/08_reporting" / pipeline / "evaluation_report.json").exists() or at == "evaluation"
    return where


def _runs(project: Path):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    exp = client.get_experiment_by_name("ssl_pipelines")
    return client, client.search_runs([exp.experiment_id])


def _curves(client, run) -> dict[str, list[int]]:
    return {key: sorted(m.step for m in client.get_metric_history(run.info.run_id, key)) for key in run.data.metrics}


def _total_epochs(pipeline: str) -> int:
    return sum(v["epochs"] for v in PIPELINES[pipeline].values() if isinstance(v, dict) and "epochs" in v)


_REFERENCES: dict[str, tuple] = {}


def _reference(pipeline: str, tmp_path_factory):
    if pipeline not in _REFERENCES:
        project = _project(tmp_path_factory.mktemp(f"{pipeline}_reference") / "project", pipeline)
        _run(project, pipeline)
        client, runs = _runs(project)
        assert [r.info.status for r in runs] == ["FINISHED"]
        _REFERENCES[pipeline] = (runs[0].data.metrics, _curves(client, runs[0]))
    return _REFERENCES[pipeline]


def check_kill_and_resume(pipeline: str, at, tmp_path, tmp_path_factory) -> dict:
    metrics, curves = _reference(pipeline, tmp_path_factory)
    project = _project(tmp_path / "work", pipeline)
    where = _kill(project, pipeline, at)
    _run(project, pipeline)
    client, runs = _runs(project)
    statuses = sorted(r.info.status for r in runs)
    finished = [r for r in runs if r.info.status == "FINISHED"]
    assert statuses.count("FINISHED") == 1 and "RUNNING" not in statuses, (where, statuses)
    got = _curves(client, finished[0])
    assert got == curves, f"{where}: curves differ: " + str(
        {k: (len(curves.get(k, [])), len(got.get(k, []))) for k in set(curves) | set(got)
         if curves.get(k) != got.get(k)})
    final = {k: v for k, v in finished[0].data.metrics.items() if not any(t in k for t in TIMING)}
    expected = {k: v for k, v in metrics.items() if not any(t in k for t in TIMING)}
    assert final == expected, {k: (expected.get(k), final.get(k)) for k in expected if final.get(k) != expected.get(k)}
    killed = [r for r in runs if r.info.status == "KILLED"]
    assert killed and killed[0].data.tags.get("ssl_pipelines.resumed_by") == finished[0].info.run_id
    assert finished[0].data.tags.get("ssl_pipelines.resumes") == killed[0].info.run_id
    assert not (project / "data/06_models/checkpoints" / pipeline).exists()  # cleaned up after success
    return {"pipeline": pipeline, "kill": where, "runs": statuses, "points": sum(map(len, got.values())),
            "metrics_equal": True}


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("at", ["random", "evaluation"])
def test_r2d2_killed_and_rerun_has_one_complete_run(at, tmp_path, tmp_path_factory):
    kill = random.Random(16).randint(1, _total_epochs("r2d2") - 1) if at == "random" else at
    row = check_kill_and_resume("r2d2", kill, tmp_path, tmp_path_factory)
    print(row)


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("pipeline", ["m1_m2", "swwae_vgg"])
@pytest.mark.parametrize("at", ["random", "evaluation"])
def test_multi_stage_pipeline_killed_and_rerun_has_one_complete_run(pipeline, at, tmp_path, tmp_path_factory):
    kill = random.Random(16).randint(1, _total_epochs(pipeline) - 1) if at == "random" else at
    print(check_kill_and_resume(pipeline, kill, tmp_path, tmp_path_factory))


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_r2d2_killed_at_more_random_points(seed, tmp_path, tmp_path_factory):
    kill = random.Random(seed).randint(1, _total_epochs("r2d2") - 1)
    print(check_kill_and_resume("r2d2", kill, tmp_path, tmp_path_factory))


CONCURRENT = {"supervised": {"train": {"epochs": 8, "steps_per_epoch": 2, "verbose": 0}},
              "m2": {"train": {"epochs": 8, "steps_per_epoch": 2, "verbose": 0}}}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_pipelines_at_once_share_a_fresh_mlflow_store(tmp_path):
    """Two different pipelines started together on one project with no ``mlflow.db`` yet (both
    create its tables, the experiment, then log every epoch): no lock or "already exists" error,
    two FINISHED runs, each with its own complete curves."""
    project = make_project_copy(tmp_path / "project")
    for pipeline, overrides in CONCURRENT.items():
        conf = project / "conf/base" / f"parameters_{pipeline}.yml"
        params = yaml.safe_load(conf.read_text())
        _deep_update(params[pipeline], overrides)
        conf.write_text(yaml.safe_dump(params))
    procs = {}
    for pipeline in CONCURRENT:
        cmd, env = _command(project, pipeline)
        procs[pipeline] = subprocess.Popen(cmd, cwd=project, env=env, stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT, text=True)
    outputs = {p: proc.communicate(timeout=500)[0] for p, proc in procs.items()}
    for pipeline, proc in procs.items():
        assert proc.returncode == 0, (pipeline, outputs[pipeline][-3000:])
        assert "database is locked" not in outputs[pipeline], outputs[pipeline][-3000:]
    client, runs = _runs(project)
    assert sorted((r.data.tags.get("method"), r.info.status) for r in runs) == [("m2", "FINISHED"),
                                                                                ("supervised", "FINISHED")]
    for run in runs:
        key = {"supervised": "supervised.loss", "m2": "m2.loss"}[run.data.tags["method"]]
        assert _curves(client, run)[key] == list(range(8)), (key, _curves(client, run).get(key))

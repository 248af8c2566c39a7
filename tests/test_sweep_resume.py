"""A sweep stopped half-way and started again with the same command continues it: the runs that
finished are kept (not run again), the interrupted one resumes from its checkpoint, and the store
ends with one FINISHED parent holding every child once, whose table is that of an uninterrupted
sweep. Plus the plan digest and the per-parent checkpoint folders it relies on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

from conftest import make_project_copy
from ssl_pipelines import cli, reporting
from ssl_pipelines.comparison import resume
from ssl_pipelines.errors import ConfigError

PARAMS = ("supervised.train.epochs=6,supervised.train.steps_per_epoch=3,supervised.train.verbose=0,"
          "supervised.train.deterministic=true,supervised.evaluation.test_subset=100")


def _plan(params: str = PARAMS):
    from conftest import load_parameters

    return cli.plan_sweep(["supervised"], [0, 1], [100], params=load_parameters(), known=cli.available_pipelines(),
                          overrides=cli.parse_params(params))


def test_plan_digest_is_the_same_for_the_same_command_and_differs_otherwise():
    a, b = resume.plan_digest(_plan(), None), resume.plan_digest(_plan(), None)
    assert a == b and len(a) == 16
    assert resume.plan_digest(_plan(), "paper") != a
    assert resume.plan_digest(_plan(PARAMS.replace("epochs=6", "epochs=7")), None) != a


def test_children_checkpoint_under_their_parent_run():
    plan = resume.with_sweep_checkpoints(_plan(), "0123456789abcdef" * 2)
    dirs = [c.runtime_params["runtime"]["checkpoint_dir"] for c in plan]
    assert dirs == ["data/06_models/checkpoints/sweep/01234567/L100-s0",
                    "data/06_models/checkpoints/sweep/01234567/L100-s1"]
    # the digest ignores where the checkpoints go: the same plan under another parent is the same plan
    assert resume.plan_digest(plan, None) == resume.plan_digest(_plan(), None)


def _sweep_cmd(project: Path, store: str, *extra: str) -> tuple[list[str], dict]:
    exe = os.path.join(os.path.dirname(sys.executable), "ssl-pipelines")
    cmd = [exe, "sweep", "--pipelines", "supervised", "--seeds", "0,1,2", "--labels", "100", "--run-name", "resumable",
           "--project-path", str(project), "--tracking-uri", store, "--params", PARAMS, *extra]
    return cmd, {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "TF_NUM_INTRAOP_THREADS": "1"}


def _children(store: str):
    client = mlflow.MlflowClient(tracking_uri=store)
    exp = client.get_experiment_by_name("ssl_pipelines")
    parents = client.search_runs([exp.experiment_id], filter_string="tags.sweep = 'true'")
    assert len(parents) == 1, [p.info.run_name for p in parents]
    kids = client.search_runs([exp.experiment_id], filter_string=f"tags.`sweep.parent` = '{parents[0].info.run_id}'")
    return parents[0], sorted(kids, key=lambda r: r.info.run_name)


def _table(store: str, parent_id: str) -> str:
    return reporting.to_markdown(reporting.results_table(reporting.load_runs(store, parent_run_id=parent_id)))


def _checkpoint_of_second_child(project: Path) -> bool:
    return any("L100-s1" in str(p) for p in (project / "data/06_models/checkpoints/sweep").rglob("state.json"))


@pytest.mark.heavy(70)
def test_a_sweep_killed_in_its_second_child_resumes_with_the_same_command(tmp_path):
    # the same sweep, uninterrupted, for reference
    ref_project = make_project_copy(tmp_path / "ref")
    ref_store = f"sqlite:///{ref_project / 'mlflow.db'}"
    cmd, env = _sweep_cmd(ref_project, ref_store)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    project = make_project_copy(tmp_path / "run")
    store = f"sqlite:///{project / 'mlflow.db'}"
    cmd, env = _sweep_cmd(project, store)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not _checkpoint_of_second_child(project):
        assert proc.poll() is None, "the sweep ended before its second child checkpointed"
        assert time.time() < deadline, "no checkpoint of the second child within 300 s"
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)  # no chance to mark anything: the parent and the child stay RUNNING
    proc.wait(timeout=30)
    parent, kids = _children(store)
    assert parent.info.status == "RUNNING"
    first = {r.info.run_name: r for r in kids}["supervised-L100-s0"]
    assert first.info.status == "FINISHED"
    assert {r.info.run_name: r.info.status for r in kids}["supervised-L100-s1"] == "RUNNING"

    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert "[sweep] resuming 'resumable'" in again.stdout
    assert "finished before (run " + first.info.run_id in again.stdout
    resumed, kids = _children(store)
    assert resumed.info.run_id == parent.info.run_id and resumed.info.status == "FINISHED"
    assert [r.info.run_name for r in kids] == ["supervised-L100-s0", "supervised-L100-s1", "supervised-L100-s2"]
    assert all(r.info.status == "FINISHED" for r in kids)
    assert {r.info.run_name: r.info.run_id for r in kids}["supervised-L100-s0"] == first.info.run_id  # not run again
    second = {r.info.run_name: r for r in kids}["supervised-L100-s1"]
    assert second.data.tags.get("ssl_pipelines.resumes")  # it went on from the killed run's checkpoint
    client = mlflow.MlflowClient(tracking_uri=store)
    history = client.get_metric_history(second.info.run_id, "supervised.loss")
    assert sorted(m.step for m in history) == list(range(6))  # every epoch once
    ref_parent, ref_kids = _children(ref_store)
    assert _table(store, resumed.info.run_id) == _table(ref_store, ref_parent.info.run_id)
    for a, b in zip(kids, ref_kids):
        assert a.data.metrics["test.error"] == b.data.metrics["test.error"], a.info.run_name

    # finished: the same command starts a fresh sweep
    third = subprocess.run(cmd + ["--seeds", "0"], env=env, capture_output=True, text=True, timeout=600)
    assert third.returncode == 0 and "resuming" not in third.stdout


def test_a_sweep_running_in_a_live_process_is_not_taken_over(tmp_path):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=store)
    exp = client.create_experiment("e")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        run = client.create_run(exp, run_name="s", tags={resume.PLAN_TAG: "abc", **resume.process_tags(),
                                                         resume.PID_TAG: str(live.pid)})
        with pytest.raises(ConfigError, match=f"still running in process {live.pid}"):
            resume.find_resumable(client, exp, "abc", "s")
    finally:
        live.kill()
        live.wait()
    assert resume.find_resumable(client, exp, "abc", "s").info.run_id == run.info.run_id  # its process is gone
    client.set_terminated(run.info.run_id, "FINISHED")
    assert resume.find_resumable(client, exp, "abc", "s") is None

"""Continue a sweep that was stopped: ``ssl-pipelines sweep`` started again with the same command
picks up the newest unfinished parent run of the same plan.

A sweep's *plan* is its ordered children with their runtime parameters and the Kedro env; its
digest is the parent's ``sweep.plan`` tag. Started again, a sweep whose newest parent run of that
digest (and run name, when one is given) is not ``FINISHED`` reopens that parent: every child
already ``FINISHED`` under it is kept and not run again; the others run with the same checkpoint
folders as before (``<checkpoint_dir>/sweep/<parent id>/...``), so the interrupted child resumes
from its last checkpoint and its new MLflow run holds its whole history; the partial runs the
interruption left (``KILLED``, ``FAILED``, or ``RUNNING`` from a process that died) are deleted
from the store (MLflow's soft delete: ``mlflow gc`` purges them) once their child finishes. So a
stopped-and-restarted sweep ends as one ``FINISHED`` parent with every child once, and its tables
are those of an uninterrupted sweep. ``--new`` starts a fresh parent instead.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import socket
from typing import Any, Sequence

from ssl_pipelines.errors import ConfigError

PLAN_TAG = "sweep.plan"
PID_TAG, HOST_TAG = "sweep.pid", "sweep.host"


def _without_checkpoint_dir(tree: dict) -> dict:
    runtime = {k: v for k, v in (tree.get("runtime") or {}).items() if k != "checkpoint_dir"}
    return {**{k: v for k, v in tree.items() if k != "runtime"}, **({"runtime": runtime} if runtime else {})}


def plan_digest(plan: Sequence[Any], env: str | None) -> str:
    """The digest of a sweep plan (children in order, their runtime parameters, the env): equal
    for the same command, different when anything a child would run differs."""
    rows = [{"name": c.run_name, "pipeline": c.pipeline, "variant": c.variant, "labels": c.labels,
             "labels_per_class": c.labels_per_class, "seed": c.seed, "tags": c.tags,
             "params": _without_checkpoint_dir(c.runtime_params)} for c in plan]
    text = json.dumps({"env": env or "base", "children": rows}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def with_sweep_checkpoints(plan: Sequence[Any], parent_run_id: str) -> list:
    """Each child's ``runtime.checkpoint_dir`` ``<dir>/sweep/<child>`` moved under the parent run:
    ``<dir>/sweep/<parent id[:8]>/<child>``, so a resumed sweep finds its own checkpoints and a new
    sweep of the same plan never starts from a stopped one's."""
    out = []
    for child in plan:
        tree = copy.deepcopy(child.runtime_params)
        runtime = tree.get("runtime") or {}
        folder = str(runtime.get("checkpoint_dir") or "")
        if "/sweep/" in folder:
            head, tail = folder.rsplit("/sweep/", 1)
            runtime["checkpoint_dir"] = f"{head}/sweep/{parent_run_id[:8]}/{tail}"
        out.append(dataclasses.replace(child, runtime_params=tree))
    return out


def _alive(pid: str | None, host: str | None) -> bool:
    if not pid or not str(pid).isdigit() or host != socket.gethostname() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_resumable(client, experiment_id: str, digest: str, run_name: str | None):
    """The newest parent run of plan ``digest`` (named ``run_name``, if given) when it is not
    FINISHED, else None. A parent still ``RUNNING`` in a live process of this machine is refused
    (ConfigError naming it): two processes must not run one sweep."""
    query = f"tags.`{PLAN_TAG}` = '{digest}'"
    if run_name:
        query += f" and attributes.run_name = '{run_name}'"
    runs = client.search_runs([experiment_id], filter_string=query, order_by=["attributes.start_time DESC"],
                              max_results=1)
    if not runs or runs[0].info.status == "FINISHED":
        return None
    parent = runs[0]
    tags = parent.data.tags
    if parent.info.status == "RUNNING" and _alive(tags.get(PID_TAG), tags.get(HOST_TAG)):
        raise ConfigError(f"sweep {parent.info.run_name!r} (MLflow run {parent.info.run_id}) is still running in "
                          f"process {tags.get(PID_TAG)}; wait for it, stop it, or start a fresh sweep with --new")
    return parent


def child_runs(client, experiment_id: str, parent_run_id: str) -> tuple[dict, dict]:
    """The parent's children by run name: ``(finished, partial)``, ``finished`` the newest
    FINISHED run of each name, ``partial`` the ids of every other run of that name."""
    runs = client.search_runs([experiment_id], filter_string=f"tags.`sweep.parent` = '{parent_run_id}'",
                              order_by=["attributes.start_time DESC"], max_results=50000)
    finished: dict = {}
    partial: dict[str, list[str]] = {}
    for run in runs:
        name = run.info.run_name
        if run.info.status == "FINISHED" and name not in finished:
            finished[name] = run
        else:
            partial.setdefault(name, []).append(run.info.run_id)
    for name, run in finished.items():  # an older finished duplicate is partial too
        partial[name] = [r for r in partial.get(name, []) if r != run.info.run_id]
    return finished, partial


def process_tags() -> dict[str, str]:
    """Which process runs the sweep (``sweep.pid``, ``sweep.host``): how a restart tells a live
    sweep from a dead one."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}

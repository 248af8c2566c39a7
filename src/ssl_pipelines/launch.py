"""``ssl-pipelines launch``: start one worker of a multi-worker training cluster.

Run the same command on every machine, each with its own ``--index`` (0 is the chief)::

    # machine A (chief: the MLflow run, the model file and the checkpoints are written here)
    ssl-pipelines launch --workers hostA:12345,hostB:12345 --index 0 -- run --pipelines=supervised
    # machine B
    ssl-pipelines launch --workers hostA:12345,hostB:12345 --index 1 -- run --pipelines=supervised

Everything after ``--`` is a ``kedro`` command line. The launcher sets ``TF_CONFIG`` (the cluster
and this worker's task), adds ``runtime.strategy=multi_worker`` to the command's ``--params`` and
replaces itself with ``kedro`` (so a signal sent to the launcher reaches the worker). The
equivalent by hand, without the launcher::

    TF_CONFIG='{"cluster": {"worker": ["hostA:12345", "hostB:12345"]}, "task": {"type": "worker", "index": 1}}' \\
        kedro run --pipelines=supervised --params runtime.strategy=multi_worker

What each worker does:

- The chief (index 0) replaces the launcher with ``kedro`` in the project folder: it writes the
  MLflow run (tagged ``num_workers``), the model file, the histories and the checkpoints.
- A non-chief worker runs ``kedro`` as a child in a scratch copy of the project
  (:func:`scratch_project`, with its own MLflow store) that is deleted when it exits; if the
  launcher is killed, the child is killed with it.
- Data: every worker builds the same global stream and trains on its replica's rows of each
  global batch (:func:`ssl_pipelines.training.distribute.per_replica_stream`): one global step is
  one batch of ``train.batch_size`` (or ``batch_labeled + batch_unlabeled``) examples, split evenly.
- Restart after a failure: when a worker dies, the others stop within seconds (TensorFlow's
  coordination service reports the lost task and aborts the collectives) and exit non-zero. Run
  the same commands again: the chief resumes from its last epoch checkpoint and broadcasts the
  restored state to the other workers; its MLflow run is a new one holding every epoch's curve
  once, linked to the interrupted one (:class:`ssl_pipelines.hooks.CheckpointHooks`). A scratch
  folder left by a launcher killed with SIGKILL is deleted by the next launcher on that machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from ssl_pipelines.errors import ConfigError

STRATEGY_PARAM = "runtime.strategy=multi_worker"


def parse_workers(text: str) -> list[str]:
    """``"host1:port,host2:port"`` -> ``["host1:port", "host2:port"]`` (every entry checked)."""
    workers = [w.strip() for w in str(text).split(",") if w.strip()]
    if not workers:
        raise ConfigError(f"--workers expects comma-separated host:port addresses, got {text!r}")
    for w in workers:
        host, sep, port = w.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"--workers: {w!r} is not a host:port address (port 1-65535), in {text!r}")
    if len(set(workers)) != len(workers):
        raise ConfigError(f"--workers lists an address twice: {text!r}")
    return workers


def tf_config(workers: Sequence[str], index: int) -> dict:
    """The ``TF_CONFIG`` of worker ``index`` in a cluster of ``workers``."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(workers):
        raise ConfigError(f"--index must be an integer in [0, {len(workers) - 1}] for {len(workers)} workers, "
                          f"got {index!r}")
    return {"cluster": {"worker": list(workers)}, "task": {"type": "worker", "index": int(index)}}


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct TCP ports free on ``host`` now (bound together, then released)."""
    sockets = []
    try:
        for _ in range(int(n)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def kedro_args_with_strategy(args: Sequence[str]) -> list[str]:
    """The kedro command line with ``runtime.strategy=multi_worker`` added to its ``--params``
    (appended to an existing ``--params`` value, or as a new option)."""
    args = list(args)
    if not args:
        raise ConfigError("launch: give the kedro command after `--`, e.g. `-- run --pipelines=supervised`")
    for i, arg in enumerate(args):
        if arg == "--params" and i + 1 < len(args):
            args[i + 1] = f"{args[i + 1]},{STRATEGY_PARAM}" if args[i + 1] else STRATEGY_PARAM
            return args
        if arg.startswith("--params="):
            value = arg.split("=", 1)[1]
            args[i] = f"--params={value},{STRATEGY_PARAM}" if value else f"--params={STRATEGY_PARAM}"
            return args
    return [*args, "--params", STRATEGY_PARAM]


def worker_command(workers: Sequence[str], index: int, kedro_args: Sequence[str],
                   env: dict | None = None) -> tuple[list[str], dict]:
    """The command and environment of worker ``index`` (what :func:`main` executes)."""
    config = tf_config(list(workers), index)
    env = dict(os.environ if env is None else env)
    env["TF_CONFIG"] = json.dumps(config)
    return [sys.executable, "-m", "kedro", *kedro_args_with_strategy(kedro_args)], env


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ssl-pipelines launch", description="Start one worker of a multi-worker training cluster.",
        epilog="example: ssl-pipelines launch --workers hostA:12345,hostB:12345 --index 0 -- run --pipelines=supervised")
    parser.add_argument("--workers", required=True, help="comma-separated host:port of every worker, chief first")
    parser.add_argument("--index", required=True, type=int, help="this worker's position in --workers (0: chief)")
    parser.add_argument("--print", action="store_true", help="print the TF_CONFIG and command instead of running")
    return parser


#: what a non-chief worker's scratch project does not share with the project it was started in
#: (its outputs, run store and logs stay in the scratch folder); ``data`` is made anew, with only
#: the raw-input layer linked
PRIVATE = frozenset({"data", "mlflow.db", "mlruns", "logs", ".git", ".viz", "reports"})


#: in every scratch project: the id of the launcher process that deletes it when it exits
OWNER_FILE = ".ssl_pipelines_launcher"
SCRATCH_PREFIX = "ssl_pipelines_worker"


def scratch_project(project: Path, index: int) -> Path:
    """A scratch copy of ``project`` for non-chief worker ``index``: links to everything but
    :data:`PRIVATE`, and a ``data`` folder of its own (``data/01_raw`` linked). The worker's model
    file, histories, MLflow store and checkpoints land there and are deleted with it."""
    scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{index}_"))
    (scratch / OWNER_FILE).write_text(f"{os.getpid()}\n")
    for entry in project.iterdir():
        if entry.name not in PRIVATE:
            (scratch / entry.name).symlink_to(entry.resolve())
    (scratch / "data").mkdir()
    if (project / "src").is_dir():  # Kedro refuses a source folder outside the project: an empty
        (scratch / "src").unlink(missing_ok=True)  # one, the project's is on PYTHONPATH (run_non_chief)
        (scratch / "src").mkdir()
    if (project / "data" / "01_raw").exists():
        (scratch / "data" / "01_raw").symlink_to((project / "data" / "01_raw").resolve())
    return scratch


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_scratch(tmp: Path | None = None) -> list[Path]:
    """Delete the scratch projects (in ``tmp``, default the temporary folder) whose launcher is no
    longer running: a launcher killed with SIGKILL cannot delete its own, the next one on the
    machine does. Only folders holding :data:`OWNER_FILE` are touched. Returns what it deleted."""
    tmp = Path(tmp or tempfile.gettempdir())
    removed = []
    for entry in tmp.glob(f"{SCRATCH_PREFIX}*_*"):
        try:
            pid = int((entry / OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            continue
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """A worker whose launcher is killed (SIGKILL included) is killed too (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run_non_chief(command: list[str], env: dict, index: int, project: Path | None = None) -> int:
    """Run a non-chief worker's ``kedro`` in a scratch project (:func:`scratch_project`) with its
    own MLflow store, and delete the scratch folder when it exits, whatever its exit status. The
    chief holds the checkpoints and broadcasts them on a restart, so nothing of it is needed later.
    (A launcher killed with SIGKILL leaves its scratch folder: the next launcher deletes it,
    :func:`remove_stale_scratch`.)"""
    project = Path(project or os.getcwd())
    remove_stale_scratch()
    scratch = scratch_project(project, index)
    env = {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{scratch / 'mlflow.db'}",
           "PYTHONPATH": os.pathsep.join(p for p in (str((project / "src").resolve()), env.get("PYTHONPATH")) if p)}
    env.pop("SSL_PIPELINES_MLFLOW_FALLBACK_URI", None)
    try:
        proc = subprocess.Popen(command, cwd=scratch, env=env, preexec_fn=_die_with_parent)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda s, _f: proc.send_signal(s))
        return proc.wait()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" in argv:
        split = argv.index("--")
        own, kedro_args = argv[:split], argv[split + 1:]
    else:
        own, kedro_args = argv, []
    args = _parser().parse_args(own)
    try:
        command, env = worker_command(parse_workers(args.workers), args.index, kedro_args)
    except ConfigError as exc:
        print(f"ssl-pipelines launch: error: {exc}", file=sys.stderr)
        return 2
    if args.print:
        print(f"TF_CONFIG='{env['TF_CONFIG']}' {' '.join(command)}")
        return 0
    sys.stdout.flush()
    if args.index != 0:
        return run_non_chief(command, env, args.index)
    os.execvpe(command[0], command, env)
    return 1  # pragma: no cover - execvpe does not return

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

Status (issue 17, not finished): this sets up the cluster only. A two-worker ``kedro run`` of
``supervised`` currently stops in the training node: Keras' symbolic build under
``MultiWorkerMirroredStrategy`` calls ``strategy.reduce`` on the whole SSL batch dict, which that
strategy does not accept (``Attempt to convert a value ({'x_labeled': PerReplica...}) with an
unsupported type (<class 'dict'>) to a Tensor``). Chief-only side effects, sharding and resuming
from the chief's checkpoint are not implemented yet.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from typing import Sequence

from ssl_pipelines.data.errors import ConfigError

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
    os.execvpe(command[0], command, env)
    return 1  # pragma: no cover - execvpe does not return

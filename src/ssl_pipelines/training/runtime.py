"""Run-time context the Kedro hooks hand to the library without touching node signatures:
where the current node keeps its training checkpoints. Library users pass ``checkpoint_dir`` to
:func:`~ssl_pipelines.training.fit_model` instead."""

from __future__ import annotations

import contextvars
from pathlib import Path

_CHECKPOINT_ROOT: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "ssl_pipelines_checkpoint_root", default=None)


def checkpoint_root() -> Path | None:
    """The checkpoint folder of the node that is running (None outside a Kedro run)."""
    return _CHECKPOINT_ROOT.get()


def set_checkpoint_root(path: str | Path | None) -> contextvars.Token:
    return _CHECKPOINT_ROOT.set(None if path is None else Path(path))


def reset_checkpoint_root(token: contextvars.Token) -> None:
    _CHECKPOINT_ROOT.reset(token)


def apply_threads(threads: int | None) -> None:
    """Limit TensorFlow to ``threads`` intra- and inter-op threads (``None``: leave the default).

    Must run before TensorFlow builds anything (the Kedro hook does it when the context is
    created). Asking again for the count already in force is fine (the runs of a sweep); another
    count once TensorFlow has started raises ConfigError naming ``runtime.threads``.
    """
    if threads is None:
        return
    import tensorflow as tf

    threading = tf.config.threading
    if (threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads()) == (threads, threads):
        return
    try:
        threading.set_intra_op_parallelism_threads(threads)
        threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        from ssl_pipelines.data.errors import ConfigError

        raise ConfigError(f"runtime.threads={threads} cannot be applied: TensorFlow already started in this process "
                          f"with {threading.get_intra_op_parallelism_threads()} intra-op threads (0 = all cores); "
                          f"set runtime.threads before anything builds a model") from None

"""Distribution strategies from a parameter, so the same pipeline trains on one CPU, several GPUs
or several workers.

``strategy``: ``default`` (one device), ``mirrored`` (all local GPUs, or the logical CPU devices
made with ``logical_cpu_devices``), ``multi_worker`` (``MultiWorkerMirroredStrategy``, configured
by the ``TF_CONFIG`` environment variable on each worker).

Losses are batch means computed per replica; :meth:`ssl_pipelines.methods.SSLModel.apply_gradients`
divides them by the number of replicas, so the summed gradients are those of the global-batch
mean (the global batch is what the stream yields; Keras splits it across replicas).
"""

from __future__ import annotations

import logging

import tensorflow as tf

from ssl_pipelines.data.errors import ConfigError

logger = logging.getLogger(__name__)

STRATEGIES = ("default", "mirrored", "multi_worker")


def split_cpu(logical_devices: int) -> None:
    """Split the first physical CPU into ``logical_devices`` logical devices (must run before
    TensorFlow initializes its devices, i.e. before the first op)."""
    if int(logical_devices) < 2:
        return
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(int(logical_devices))])
    except RuntimeError as exc:
        raise ConfigError(
            f"logical_cpu_devices={logical_devices} must be set before TensorFlow initializes its devices ({exc})"
        ) from exc


def make_strategy(name: str = "default", logical_cpu_devices: int | None = None) -> tf.distribute.Strategy:
    """Build the named strategy (see module docstring).

    Raises:
        ConfigError: unknown strategy name.
    """
    if name not in STRATEGIES:
        raise ConfigError(f"unknown strategy {name!r}; expected one of {list(STRATEGIES)}")
    if logical_cpu_devices:
        split_cpu(logical_cpu_devices)
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        strategy = tf.distribute.MirroredStrategy(devices=devices)
    else:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    logger.info("distribution strategy %s with %d replicas", name, strategy.num_replicas_in_sync)
    return strategy


# === Multi-worker ===
def num_workers(strategy: tf.distribute.Strategy | None = None) -> int:
    """Worker processes of ``strategy`` (1 unless it is a ``MultiWorkerMirroredStrategy`` over a
    cluster of several)."""
    strategy = strategy or tf.distribute.get_strategy()
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return 1
    spec = resolver.cluster_spec().as_dict()
    return max(1, len(spec.get("worker", [])) + len(spec.get("chief", [])))


def is_chief(strategy: tf.distribute.Strategy | None = None) -> bool:
    """Whether this process writes the run's side effects (MLflow run, model file, checkpoints):
    always, except on the non-chief workers of a multi-worker cluster."""
    strategy = strategy or tf.distribute.get_strategy()
    return num_workers(strategy) == 1 or bool(strategy.extended.should_checkpoint)


def per_replica_stream(dataset: tf.data.Dataset, strategy: tf.distribute.Strategy | None = None, *,
                       name: str = "batch"):
    """The global-batch stream ``dataset`` as each replica's share, for a multi-worker strategy
    (else ``dataset`` itself: Keras splits it across local replicas).

    Every worker builds the same global stream (the permutation is stateless, see
    :func:`ssl_pipelines.data.streams.ssl_stream`) and keeps rows ``[r*b, (r+1)*b)`` of every
    batch leaf, ``r`` its replica's global position and ``b = B / replicas``: one global step trains
    on exactly the global batch a single process would (same examples, same augmentation), split
    evenly, and no example is used twice per pass. (TensorFlow's auto-sharding would instead
    rewrite every ``batch`` op of the stream, including the augmentation seeds', and its DATA
    policy gives the same rows only for streams with one batch size.)

    Raises:
        ConfigError: a batch size the replicas do not divide.
    """
    strategy = strategy or tf.distribute.get_strategy()
    workers = num_workers(strategy)
    if workers <= 1:
        return dataset
    replicas = strategy.num_replicas_in_sync
    local = replicas // workers
    for path, spec in _leaves(dataset.element_spec):
        size = spec.shape[0] if spec.shape.rank else None
        if size is None or size % replicas:
            raise ConfigError(
                f"{name}: the {path!r} part of each batch has {size} rows, which the {replicas} replicas of "
                f"{workers} workers cannot split evenly; use a batch size divisible by {replicas}")

    def for_worker(context: tf.distribute.InputContext) -> tf.data.Dataset:
        first = context.input_pipeline_id * local

        def take(batch):
            def rows(t):
                b = t.shape[0] // replicas
                mine = t[first * b:(first + local) * b]
                return tf.reshape(mine, [local, b, *t.shape[1:]]) if local > 1 else mine
            return tf.nest.map_structure(rows, batch)

        mine = dataset.map(take)
        return mine.unbatch() if local > 1 else mine  # local replicas take consecutive elements

    return strategy.distribute_datasets_from_function(for_worker)


def _leaves(spec, path=""):
    if isinstance(spec, dict):
        for k, v in spec.items():
            yield from _leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(spec, (tuple, list)):
        for i, v in enumerate(spec):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path, spec


def _from_chief(strategy: tf.distribute.Strategy, tensors: list[tf.Tensor]) -> list[tf.Tensor]:
    """Every worker gets the chief's ``tensors``: an all-reduce (sum) to which only the chief's
    first replica contributes its values and every other replica zeros (exact: ``x + 0 = x``)."""
    def contribute(*ts):
        ctx = tf.distribute.get_replica_context()
        mine = tf.equal(ctx.replica_id_in_sync_group, 0)
        return ctx.all_reduce("SUM", [tf.where(mine, t, tf.zeros_like(t)) for t in ts])

    out = strategy.run(tf.function(contribute), args=tuple(tensors))
    return [strategy.experimental_local_results(t)[0] for t in tf.nest.flatten(out)]


def broadcast_variables(variables, strategy: tf.distribute.Strategy | None = None) -> None:
    """Assign the chief's values of ``variables`` on every worker (after the chief alone restored a
    checkpoint). Does nothing with one worker."""
    strategy = strategy or tf.distribute.get_strategy()
    variables = list(variables)
    if num_workers(strategy) <= 1 or not variables:
        return
    sendable = (tf.float32, tf.float64, tf.float16, tf.int32, tf.int64)
    values = []
    for v in variables:
        value = tf.convert_to_tensor(v.value if hasattr(v, "value") else v)
        values.append(value if value.dtype in sendable else tf.cast(value, tf.int64))
    # one all-reduce per dtype: TensorFlow packs the tensors of one all-reduce into one buffer
    # (a concat), which fails on mixed dtypes (e.g. float32 weights with the int64 seed states)
    by_dtype: dict = {}
    for i, value in enumerate(values):
        by_dtype.setdefault(value.dtype, []).append(i)
    for indices in by_dtype.values():
        for i, value in zip(indices, _from_chief(strategy, [values[i] for i in indices])):
            variables[i].assign(tf.cast(value, variables[i].dtype))


def broadcast_json(value, strategy: tf.distribute.Strategy | None = None):
    """The chief's ``value`` (anything JSON-serializable) on every worker; ``value`` itself with
    one worker. Every worker must call it at the same point (it is a collective)."""
    import json

    import numpy as np

    strategy = strategy or tf.distribute.get_strategy()
    if num_workers(strategy) <= 1:
        return value
    data = np.frombuffer(json.dumps(value).encode(), np.uint8).astype(np.int32) if is_chief(strategy) else \
        np.zeros(0, np.int32)
    (length,) = _from_chief(strategy, [tf.constant(len(data), tf.int32)])
    padded = np.zeros(int(length), np.int32)
    padded[:len(data)] = data
    (received,) = _from_chief(strategy, [tf.constant(padded)])
    return json.loads(received.numpy().astype(np.uint8).tobytes().decode())

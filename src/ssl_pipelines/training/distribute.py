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

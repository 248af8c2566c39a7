"""How close a training step comes to the machine: the floating-point operations of one step (as
TensorFlow's graph profiler counts them: matrix products and convolutions, forward and backward,
the ops that dominate), and the rate of a large matrix product in the same precision on the same
threads (the GEMM peak a step could reach)."""

from __future__ import annotations

import time

import tensorflow as tf


def train_step_gflop(model, batch) -> float | None:
    """GFLOP of one ``model.train_step`` on a batch shaped like ``batch`` (traced, not run;
    TensorFlow's ``float_ops`` statistics, which cover MatMul, Conv2D and their gradients). None
    where the profiler cannot count the step."""
    from tensorflow.python.profiler import model_analyzer, option_builder

    spec = tf.nest.map_structure(lambda t: tf.TensorSpec.from_tensor(tf.convert_to_tensor(t)), batch)
    try:
        graph = tf.function(model.train_step).get_concrete_function(spec).graph
        options = option_builder.ProfileOptionBuilder(option_builder.ProfileOptionBuilder.float_operation())
        options = options.with_empty_output().build()
        total = model_analyzer.profile(graph, options=options).total_float_ops
    except Exception:  # noqa: BLE001 - a measurement aid: never fail a run for it
        return None
    return float(total) / 1e9 if total else None


def gemm_peak_gflops(dtype: str = "float32", n: int = 1024, repeats: int = 10) -> float:
    """GFLOP/s of an ``n x n x n`` matrix product in ``dtype`` (median of ``repeats`` after a
    warm-up), on the threads TensorFlow has."""
    a = tf.cast(tf.random.stateless_normal((n, n), seed=[0, 1]), dtype)
    product = tf.function(lambda: tf.matmul(a, a))
    product().numpy()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        product().numpy()
        times.append(time.perf_counter() - t0)
    times.sort()
    return 2.0 * n ** 3 / times[len(times) // 2] / 1e9

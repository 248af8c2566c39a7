"""Numeric precision of a run: a Keras dtype policy applied before any model is built.

``float32`` computes and stores everything in float32. ``mixed_bfloat16`` / ``mixed_float16``
(Keras' mixed policies) compute the layers in a half type and keep every variable in float32;
this package computes every loss term in float32 (:mod:`ssl_pipelines.losses.precision`), returns
float32 logits from every method model, keeps R2-D2's pseudo-label table in float32, and scales
the loss under ``mixed_float16`` (:meth:`ssl_pipelines.methods.SSLModel.apply_gradients`).
``auto`` picks ``mixed_bfloat16`` where the hardware multiplies bfloat16 natively (a GPU of
compute capability 8.0 or newer, a CPU with AVX512_BF16 or AMX_BF16) and ``float32`` elsewhere.

Use from Python as from ``conf/base/parameters.yml`` (``runtime.precision``)::

    from ssl_pipelines.training import apply_precision
    apply_precision("auto")   # before building models; returns the policy it set
"""

from __future__ import annotations

from pathlib import Path

#: the values ``runtime.precision`` accepts: Keras policy names, plus ``auto``
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16", "auto")
#: CPU flags (``/proc/cpuinfo``) of native bfloat16 arithmetic
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags (empty where ``/proc/cpuinfo`` does not exist)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def gpu_compute_capabilities() -> list[tuple[int, int]]:
    """Compute capabilities of the visible GPUs (empty without one)."""
    import tensorflow as tf

    out = []
    for device in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(device).get("compute_capability")
        if capability:
            out.append(tuple(int(v) for v in capability))
    return out


def auto_precision(flags: set[str] | None = None, gpus: list[tuple[int, int]] | None = None) -> str:
    """What ``auto`` resolves to: ``mixed_bfloat16`` on GPUs of compute capability >= 8.0 (all of
    them) or, without a GPU, on a CPU with one of :data:`BF16_CPU_FLAGS`; ``float32`` otherwise."""
    gpus = gpu_compute_capabilities() if gpus is None else gpus
    if gpus:
        return "mixed_bfloat16" if all(c >= (8, 0) for c in gpus) else "float32"
    flags = cpu_flags() if flags is None else flags
    return "mixed_bfloat16" if any(f in flags for f in BF16_CPU_FLAGS) else "float32"


def resolve_precision(name: str) -> str:
    """The Keras policy name for ``name`` (one of :data:`PRECISIONS`; ValueError naming them
    otherwise)."""
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
    return auto_precision() if name == "auto" else name


def apply_precision(name: str) -> str:
    """Set Keras' global dtype policy for ``name`` and return the policy set. Models built
    afterwards compute in it (a model built before keeps its own); models loaded from a
    ``.keras`` file keep the policy they were saved with."""
    import keras

    policy = resolve_precision(name)
    keras.mixed_precision.set_global_policy(policy)
    return policy


def current_precision() -> str:
    """The name of Keras' global dtype policy."""
    import keras

    return keras.mixed_precision.global_policy().name

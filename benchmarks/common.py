"""Helpers shared by the benchmark scripts: run a pipeline's node functions without Kedro, write
JSON results to benchmarks/runs/ and format mean ± std tables."""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from pathlib import Path

RUNS = Path(__file__).resolve().parent / "runs"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def machine() -> str:
    import os

    return f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"


def save_result(name: str, payload: dict) -> Path:
    RUNS.mkdir(parents=True, exist_ok=True)
    path = RUNS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    payload = {"command": " ".join(sys.argv), "machine": machine(), **payload}
    path.write_text(json.dumps(payload, indent=2))
    return path


def set_threads(threads: int) -> None:
    """Limit TensorFlow to ``threads`` intra- and inter-op threads (0: leave all cores), e.g. to run
    two single-threaded benchmarks side by side; call before any TensorFlow work."""
    if threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def mean_std(values: list[float]) -> str:
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


CIFAR10_JPEG_ARCHIVE = SHARED_DATA / "cifar10_jpeg_full" / "cifar10_jpg_full.tar.xz"
CIFAR10_JPEG_CACHE = Path(__file__).resolve().parents[1] / "data" / "01_raw" / "cifar10_jpeg.npz"


def cached_cifar10_npz(archive: str | Path = CIFAR10_JPEG_ARCHIVE, cache: str | Path = CIFAR10_JPEG_CACHE) -> Path:
    """The lossy JPEG CIFAR-10 copy as an ``.npz`` cache (uint8), decoded from ``archive`` on first
    use (60k JPEGs: minutes) and reused afterwards. Returns the cache path."""
    cache = Path(cache)
    if not cache.exists():
        from ssl_pipelines.data import load_dataset, save_npz

        print(f"decoding {archive} (60k JPEGs) into {cache} ...", flush=True)
        save_npz(load_dataset("image_folder", path=str(archive)), cache)
    return cache

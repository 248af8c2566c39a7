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


def mean_std(values: list[float]) -> str:
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"

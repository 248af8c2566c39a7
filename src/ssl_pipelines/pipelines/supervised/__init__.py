"""Supervised-only baseline pipeline (``kedro run --pipelines=supervised``)."""

from ssl_pipelines.pipelines.supervised.pipeline import create_pipeline

__all__ = ["create_pipeline"]

"""M2 pipeline (``kedro run --pipelines=m2``): the generative semi-supervised model on pixels."""

from ssl_pipelines.pipelines.m2.pipeline import create_pipeline

__all__ = ["create_pipeline"]

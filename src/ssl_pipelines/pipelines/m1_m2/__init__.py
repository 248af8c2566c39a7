"""M1+M2 pipeline (``kedro run --pipelines=m1_m2``): M2 stacked on a pretrained M1."""

from ssl_pipelines.pipelines.m1_m2.pipeline import create_pipeline

__all__ = ["create_pipeline"]

"""M1 pipeline (``kedro run --pipelines=m1``): VAE features + a classifier on the latent means."""

from ssl_pipelines.pipelines.m1.pipeline import create_pipeline

__all__ = ["create_pipeline"]

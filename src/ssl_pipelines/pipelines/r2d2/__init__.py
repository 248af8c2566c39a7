"""R2-D2 pipeline (``kedro run --pipelines=r2d2``): supervised -> D2 with repetitive
reprediction -> fine-tuning on hard pseudo-labels (METHODS.md §4.3)."""

from ssl_pipelines.pipelines.r2d2.pipeline import create_pipeline

__all__ = ["create_pipeline"]

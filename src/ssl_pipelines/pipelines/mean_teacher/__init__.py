"""Mean Teacher baseline pipeline (``kedro run --pipelines=mean_teacher``)."""

from ssl_pipelines.pipelines.mean_teacher.pipeline import create_pipeline

__all__ = ["create_pipeline"]

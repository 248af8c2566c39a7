"""HybridNet pipeline (``kedro run --pipelines=hybridnet``)."""

from ssl_pipelines.pipelines.hybridnet.pipeline import create_pipeline

__all__ = ["create_pipeline"]

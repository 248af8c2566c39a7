"""Reusable, serializable Keras layers (registered under the ``ssl_pipelines`` package name)."""

__all__: list[str] = []

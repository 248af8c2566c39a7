"""Kedro hooks: tag the MLflow run so runs can be compared by method, data set, labels and seed."""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)


class PipelineNameHooks:
    """Tags the active MLflow run with ``method``, ``dataset``, ``labels_per_class`` and ``seed``.

    The method is the namespace of the nodes that run (every method pipeline is namespaced by its
    name), so the tags are right for ``kedro run --pipelines=m2`` as for a sweep.
    """

    def __init__(self) -> None:
        self._tagged: set[str] = set()
        self._params: dict[str, Any] = {}

    @hook_impl
    def after_context_created(self, context) -> None:
        self._params = dict(context.params)
        self._tagged = set()

    @hook_impl
    def before_node_run(self, node, catalog, inputs, is_async, run_id) -> None:
        namespace = node.namespace
        if not namespace or namespace in self._tagged:
            return
        try:
            import mlflow
        except ImportError:  # pragma: no cover - mlflow is a dependency
            return
        if mlflow.active_run() is None:
            return
        method = namespace.split(".")[0]
        params = self._params.get(method, {}) or {}
        data = params.get("data", {}) or {}
        tags = {"method": method}
        for key in ("name", "labels_per_class", "num_labeled"):
            if data.get(key) is not None:
                tags["dataset" if key == "name" else key] = str(data[key])
        if params.get("seed") is not None:
            tags["seed"] = str(params["seed"])
        mlflow.set_tags(tags)
        self._tagged.add(namespace)

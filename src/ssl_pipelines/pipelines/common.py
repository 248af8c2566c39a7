"""Sub-pipelines every method reuses (STYLE.md #8): the data split in front, evaluation behind.

``method_pipeline(name, training)`` wraps a method's training nodes between them and namespaces
the whole under ``name``, so a method's parameters live under ``<name>:`` in
``conf/base/parameters_<name>.yml`` and its datasets are ``<name>.<dataset>`` (matched by the
dataset factories in ``conf/base/catalog.yml``).
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline, node, pipeline

from ssl_pipelines.pipelines.common_nodes import (
    evaluate_classifier,
    load_dataset,
    load_streamable_dataset,
    plot_learning_curves,
    split_labeled_unlabeled,
)


def data_pipeline(streaming: bool = False) -> Pipeline:
    """load_dataset -> split_labeled_unlabeled: ``ssl_split``, ``split_indices``, ``split_summary``.

    ``streaming=True`` lets ``data.streaming: true`` through (for pipelines whose nodes read the
    split via :mod:`ssl_pipelines.data.split_access`)."""
    load = load_streamable_dataset if streaming else load_dataset
    return pipeline([
        node(load, ["params:data", "params:seed"], "dataset", name="load_dataset"),
        node(split_labeled_unlabeled, ["dataset", "params:data", "params:seed"],
             ["ssl_split", "split_indices", "split_summary"], name="split_labeled_unlabeled"),
    ])


def evaluation_pipeline(model: str = "trained_model", history: str = "training_history") -> Pipeline:
    """evaluate_classifier on ``model``, plus learning curves from ``history``."""
    return pipeline([
        node(evaluate_classifier, [model, "ssl_split", "params:evaluation"],
             ["test_metrics", "validation_metrics", "evaluation_report", "confusion_matrix_plot"], name="evaluate_classifier"),
        node(plot_learning_curves, history, "learning_curves_plot", name="plot_learning_curves"),
    ])


def method_pipeline(name: str, training: Pipeline | list[Node], model: str = "trained_model",
                    history: str = "training_history", streaming: bool = False) -> Pipeline:
    """``data_pipeline(streaming) + training + evaluation_pipeline()`` under namespace ``name``."""
    training = training if isinstance(training, Pipeline) else pipeline(training)
    return pipeline(
        [data_pipeline(streaming), training, evaluation_pipeline(model, history)],
        namespace=name,
        prefix_datasets_with_namespace=True,
    )

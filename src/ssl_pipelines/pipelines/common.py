"""Sub-pipelines every method reuses (one copy, namespaced per pipeline): the parameter check and
data split in front, evaluation behind.

``method_pipeline(name, training)`` wraps a method's training nodes between them and namespaces
the whole under ``name``, so a method's parameters live under ``<name>:`` in
``conf/base/parameters_<name>.yml`` and its datasets are ``<name>.<dataset>`` (matched by the
dataset factories in ``conf/base/catalog.yml``). Every pipeline reads its data through
:mod:`ssl_pipelines.data.split_access`, in memory or streamed from files (``data.streaming``).
"""

from __future__ import annotations

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline, node, pipeline

from ssl_pipelines.params import Schema, sections_of
from ssl_pipelines.pipelines.common_nodes import (
    check_parameters,
    evaluate_classifier,
    load_dataset,
    plot_learning_curves,
    split_labeled_unlabeled,
)


def data_pipeline(name: str, schema: Schema | None = None) -> Pipeline:
    """check_parameters -> load_dataset -> split_labeled_unlabeled: ``resolved_parameters``,
    ``ssl_split``, ``split_indices``, ``split_summary``. ``schema``: see :func:`method_pipeline`."""
    check = update_wrapper(partial(check_parameters, name, schema), check_parameters)
    return pipeline([
        node(check, {s: f"params:{s}" for s in sections_of(name, schema)}, "resolved_parameters",
             name="check_parameters"),
        node(load_dataset, ["params:data", "params:seed", "resolved_parameters"], "dataset", name="load_dataset"),
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
                    history: str = "training_history", schema: Schema | None = None) -> Pipeline:
    """``data_pipeline(name) + training + evaluation_pipeline()`` under namespace ``name``.

    ``schema`` ({section: parser(values, seed)}, :mod:`ssl_pipelines.params`) names the method's
    own parameter sections and how each is checked; the built-in methods' schemas are
    ``ssl_pipelines.params.SCHEMAS`` (see docs/adding_a_method.md).
    """
    training = training if isinstance(training, Pipeline) else pipeline(training)
    return pipeline(
        [data_pipeline(name, schema), training, evaluation_pipeline(model, history)],
        namespace=name,
        prefix_datasets_with_namespace=True,
    )

"""split -> train_supervised_stage -> train_d2_stage -> finetune_on_pseudo_labels -> evaluate."""

from kedro.pipeline import Pipeline, node

from ssl_pipelines.pipelines.common import method_pipeline
from ssl_pipelines.pipelines.r2d2.nodes import (
    combine_histories,
    evaluate_stages,
    finetune_on_pseudo_labels,
    train_d2_stage,
    train_supervised_stage,
)


def create_pipeline(**kwargs) -> Pipeline:
    return method_pipeline("r2d2", [
        node(train_supervised_stage, ["ssl_split", "params:model", "params:supervised", "params:seed",
                                     "params:evaluation"],
             ["supervised_model", "supervised_history"], name="train_supervised_stage"),
        node(train_d2_stage, ["supervised_model", "ssl_split", "params:d2", "params:seed", "params:evaluation"],
             ["d2_model", "d2_history", "d2_pseudo_label_metrics"], name="train_d2_stage"),
        node(finetune_on_pseudo_labels, ["d2_model", "ssl_split", "params:finetune", "params:seed",
                                        "params:evaluation"],
             ["trained_model", "finetune_history", "finetune_pseudo_label_metrics"],
             name="finetune_on_pseudo_labels"),
        node(evaluate_stages, ["supervised_model", "d2_model", "trained_model", "ssl_split", "params:evaluation"],
             ["stage_test_metrics", "stage_report"], name="evaluate_stages"),
        node(combine_histories, ["supervised_history", "d2_history", "finetune_history"], "training_history",
             name="combine_histories"),
    ])

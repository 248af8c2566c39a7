"""split -> pretrain_m1 -> train_m1_m2 -> evaluate (+ class-conditional samples and reconstructions)."""

from kedro.pipeline import Pipeline, node

from ssl_pipelines.pipelines.common import method_pipeline
from ssl_pipelines.pipelines.m1.nodes import pretrain_m1
from ssl_pipelines.pipelines.m1_m2.nodes import check_m1_m2_params, train_m1_m2
from ssl_pipelines.pipelines.m2.nodes import plot_generative


def create_pipeline(**kwargs) -> Pipeline:
    return method_pipeline("m1_m2", [
        node(check_m1_m2_params, ["ssl_split", "params:stack"], "checked_split", name="check_m1_m2_params"),
        node(pretrain_m1, ["checked_split", "params:m1", "params:pretrain", "params:seed"],
             ["pretrained_vae", "pretrain_history"], name="pretrain_m1"),
        node(train_m1_m2, ["pretrained_vae", "checked_split", "params:m2", "params:stack", "params:train", "params:seed",
                           "pretrain_history"],
             ["trained_model", "training_history"], name="train_m1_m2"),
        node(plot_generative, ["trained_model", "ssl_split", "params:plots", "params:seed"],
             ["samples_plot", "reconstructions_plot"], name="plot_m1_m2_samples"),
    ])

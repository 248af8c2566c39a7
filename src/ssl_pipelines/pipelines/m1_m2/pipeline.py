"""split -> pretrain_m1 -> train_m1_m2 -> evaluate (+ class-conditional samples and reconstructions)."""

from kedro.pipeline import Pipeline, node

from ssl_pipelines.pipelines.common import method_pipeline
from ssl_pipelines.pipelines.common_generative import plot_generative, pretrain_m1
from ssl_pipelines.pipelines.m1_m2.nodes import train_m1_m2


def create_pipeline(**kwargs) -> Pipeline:
    return method_pipeline("m1_m2", [
        node(pretrain_m1, ["ssl_split", "params:m1", "params:pretrain", "params:seed"],
             ["pretrained_vae", "pretrain_history"], name="pretrain_m1"),
        node(train_m1_m2, ["pretrained_vae", "ssl_split", "params:m2", "params:stack", "params:train", "params:seed",
                           "pretrain_history", "params:evaluation"],
             ["trained_model", "training_history"], name="train_m1_m2"),
        node(plot_generative, ["trained_model", "ssl_split", "params:plots", "params:seed"],
             ["samples_plot", "reconstructions_plot"], name="plot_m1_m2_samples"),
    ])

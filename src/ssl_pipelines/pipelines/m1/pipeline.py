"""split -> pretrain_m1 (VAE) -> train_m1_classifier (on latent means) -> evaluate (+ image grids)."""

from kedro.pipeline import Pipeline, node

from ssl_pipelines.pipelines.common import method_pipeline
from ssl_pipelines.pipelines.common_generative import pretrain_m1
from ssl_pipelines.pipelines.m1.nodes import plot_m1, train_m1_classifier


def create_pipeline(**kwargs) -> Pipeline:
    return method_pipeline("m1", [
        node(pretrain_m1, ["ssl_split", "params:model", "params:pretrain", "params:seed"],
             ["pretrained_vae", "pretrain_history"], name="pretrain_m1"),
        node(train_m1_classifier, ["pretrained_vae", "ssl_split", "params:train", "params:seed", "pretrain_history",
                                     "params:transduction", "params:evaluation"],
             ["trained_model", "training_history"], name="train_m1_classifier"),
        node(plot_m1, ["trained_model", "ssl_split", "params:plots", "params:seed"],
             ["reconstructions_plot", "samples_plot"], name="plot_m1"),
    ])

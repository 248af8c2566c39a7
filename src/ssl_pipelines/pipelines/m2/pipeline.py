"""split -> train_m2 -> evaluate (+ class-conditional samples and reconstructions)."""

from kedro.pipeline import Pipeline, node

from ssl_pipelines.pipelines.common import method_pipeline
from ssl_pipelines.pipelines.common_generative import plot_generative
from ssl_pipelines.pipelines.m2.nodes import train_m2


def create_pipeline(**kwargs) -> Pipeline:
    return method_pipeline("m2", [
        node(train_m2, ["ssl_split", "params:model", "params:train", "params:seed", "params:evaluation"],
             ["trained_model", "training_history"], name="train_m2"),
        node(plot_generative, ["trained_model", "ssl_split", "params:plots", "params:seed"],
             ["samples_plot", "reconstructions_plot"], name="plot_m2_samples"),
    ])

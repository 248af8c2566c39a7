"""split -> train_inversion -> evaluate, plus a grid of inputs beside their reconstructions."""

from kedro.pipeline import Pipeline, node

from ssl_pipelines.pipelines.common import method_pipeline
from ssl_pipelines.pipelines.inversion.nodes import plot_reconstructions, train_inversion


def create_pipeline(**kwargs) -> Pipeline:
    return method_pipeline("inversion", [
        node(train_inversion, ["ssl_split", "params:model", "params:train", "params:seed", "params:evaluation"],
             ["trained_model", "training_history"], name="train_inversion"),
        node(plot_reconstructions, ["trained_model", "ssl_split", "params:plot"],
             ["reconstruction_plot", "reconstruction_metrics"], name="plot_reconstructions"),
    ])

"""split -> train_supervised -> evaluate."""

from kedro.pipeline import Pipeline, node

from ssl_pipelines.pipelines.common import method_pipeline
from ssl_pipelines.pipelines.supervised.nodes import train_supervised


def create_pipeline(**kwargs) -> Pipeline:
    return method_pipeline("supervised", [
        node(train_supervised, ["ssl_split", "params:model", "params:train", "params:seed", "params:evaluation"],
             ["trained_model", "training_history"], name="train_supervised"),
    ])

"""split -> train_hybridnet -> evaluate (EMA teacher, shared) + evaluate_student (raw) + figures."""

from kedro.pipeline import Pipeline, node

from ssl_pipelines.pipelines.common import method_pipeline
from ssl_pipelines.pipelines.hybridnet.nodes import plot_reconstructions, train_hybridnet
from ssl_pipelines.pipelines.common_nodes import evaluate_student


def create_pipeline(**kwargs) -> Pipeline:
    return method_pipeline("hybridnet", [
        node(train_hybridnet, ["ssl_split", "params:model", "params:loss", "params:train", "params:seed",
                                "params:evaluation"],
             ["trained_model", "training_history"], name="train_hybridnet"),
        node(evaluate_student, ["trained_model", "ssl_split", "params:evaluation"],
             ["student_metrics", "student_report"], name="evaluate_student"),
        node(plot_reconstructions, ["trained_model", "ssl_split", "params:figures"],
             ["reconstructions_plot", "reconstruction_metrics"], name="plot_reconstructions"),
    ])

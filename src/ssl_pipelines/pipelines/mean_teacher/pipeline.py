"""split -> train_mean_teacher -> evaluate (EMA teacher) + evaluate_student (raw classifier)."""

from kedro.pipeline import Pipeline, node

from ssl_pipelines.pipelines.common import method_pipeline
from ssl_pipelines.pipelines.common_nodes import evaluate_student
from ssl_pipelines.pipelines.mean_teacher.nodes import train_mean_teacher


def create_pipeline(**kwargs) -> Pipeline:
    return method_pipeline("mean_teacher", [
        node(train_mean_teacher, ["ssl_split", "params:model", "params:loss", "params:train", "params:seed",
                                   "params:evaluation"],
             ["trained_model", "training_history"], name="train_mean_teacher"),
        node(evaluate_student, ["trained_model", "ssl_split", "params:evaluation"],
             ["student_metrics", "student_report"], name="evaluate_student"),
    ])

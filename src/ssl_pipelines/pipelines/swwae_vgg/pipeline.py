"""split -> pretrain classifier -> layerwise decoders -> chained decoder -> joint fine-tuning -> evaluate
(single crop, and fully-convolutional when ``dense_evaluation.enabled``)."""

from kedro.pipeline import Pipeline, node

from ssl_pipelines.pipelines.common import method_pipeline
from ssl_pipelines.pipelines.swwae_vgg.nodes import (
    evaluate_dense,
    finetune_swwae,
    plot_reconstructions,
    pretrain_classifier,
    train_chained_decoder,
    train_layerwise_decoders,
)


def create_pipeline(**kwargs) -> Pipeline:
    return method_pipeline("swwae_vgg", [
        node(pretrain_classifier,
             ["ssl_split", "params:model", "params:pretrain", "params:seed", "params:dense_evaluation",
              "params:evaluation"],
             ["pretrained_classifier", "pretrain_history", "pretrain_metrics"], name="pretrain_classifier"),
        node(train_layerwise_decoders,
             ["pretrained_classifier", "ssl_split", "params:model", "params:decoder_layerwise", "params:seed"],
             ["layerwise_decoders", "layerwise_history"], name="train_layerwise_decoders"),
        node(train_chained_decoder,
             ["pretrained_classifier", "layerwise_decoders", "ssl_split", "params:model",
              "params:decoder_chained", "params:seed"],
             ["initial_decoders", "chained_history"], name="train_chained_decoder"),
        node(finetune_swwae,
             ["pretrained_classifier", "initial_decoders", "ssl_split", "params:model", "params:finetune",
              "params:seed", "pretrain_history", "layerwise_history", "chained_history", "params:evaluation"],
             ["trained_model", "training_history", "finetune_metrics"], name="finetune_swwae"),
        node(plot_reconstructions, ["trained_model", "ssl_split", "params:reconstruction_plot"],
             "reconstruction_plot", name="plot_reconstructions"),
        node(evaluate_dense, ["trained_model", "ssl_split", "params:dense_evaluation", "params:evaluation"],
             ["dense_metrics", "dense_report"], name="evaluate_dense"),
    ])

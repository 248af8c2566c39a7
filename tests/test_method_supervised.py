import numpy as np

from harness import check_method_model
from ssl_pipelines import data, methods, models


def test_supervised_classifier_trains_saves_and_reloads(tmp_path):
    ds = data.load_dataset("digits")
    sp = data.split_labeled_unlabeled(ds, labels_per_class=3, seed=0)
    net = models.build_backbone("small_cnn", sp.input_shape, 10, filters=[8], dense_units=16)
    model = methods.SupervisedClassifier(net)
    stream = data.ssl_stream(sp.x_labeled, sp.y_labeled, sp.x_unlabeled, batch_labeled=10, batch_unlabeled=4)
    check_method_model(model, stream, sp.x_test[:8], tmp_path, expected_metrics=("cross_entropy", "accuracy"))


def test_every_registered_backbone_outputs_logits():
    for name, kwargs in [("mlp", {"hidden_units": [16]}), ("small_cnn", {}), ("conv_large", {"width": 0.05})]:
        net = models.build_backbone(name, (8, 8, 1), 10, **kwargs)
        assert net(np.zeros((2, 8, 8, 1), np.float32)).shape == (2, 10), name


def test_unknown_backbone_lists_the_known_ones():
    import pytest

    with pytest.raises(data.ConfigError, match=r"unknown backbone 'resnet9000'; expected one of \[.*'mlp'"):
        models.build_backbone("resnet9000", (8, 8, 1), 10)

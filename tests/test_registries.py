"""The two registries: backbones (registered on definition) and Kedro pipelines (all names)."""

import keras
import numpy as np
import pytest

from ssl_pipelines import data, models
from ssl_pipelines.models.registry import register_backbone


@register_backbone("test_registries_linear")
def _linear(input_shape, num_classes, name="test_registries_linear"):
    x = keras.Input(input_shape)
    return keras.Model(x, keras.layers.Dense(num_classes)(keras.layers.Flatten()(x)), name=name)


def test_a_backbone_defined_outside_the_package_is_buildable_by_name():
    net = models.build_backbone("test_registries_linear", (4, 4, 1), 3)
    assert net.name == "test_registries_linear"
    assert net(np.zeros((2, 4, 4, 1), "float32")).shape == (2, 3)
    assert "test_registries_linear" in models.available_backbones()


def test_every_builder_of_the_package_is_registered():
    assert {"conv1d_bird10", "conv_large", "hybrid_convlarge", "hybrid_resnet", "inv_large_cnn", "inv_resnet2_32",
            "inv_resnet3_16", "inv_small_cnn", "lenet", "mlp", "resnet", "small_cnn",
            "vgg16"} <= set(models.available_backbones())


def test_unknown_backbone_error_lists_every_known_name():
    with pytest.raises(data.ConfigError) as err:
        models.build_backbone("nope", (4, 4, 1), 3)
    message = str(err.value)
    assert message.startswith("unknown backbone 'nope'; expected one of [")
    for name in models.available_backbones():
        assert repr(name) in message


def test_a_name_taken_by_another_builder_is_refused_naming_both():
    def other(input_shape, num_classes):
        raise AssertionError("never built")

    with pytest.raises(ValueError, match=r"'mlp' is already registered by ssl_pipelines\.models\.mlp\.mlp; "
                                         r".*other needs another name"):
        register_backbone("mlp")(other)
    assert models.build_backbone("mlp", (4,), 2, hidden_units=[]).name == "mlp"


def test_all_pipeline_names_ignores_the_last_run_filter_through_public_api(monkeypatch):
    from kedro.framework import project

    from ssl_pipelines.pipeline_registry import all_pipeline_names

    project.configure_project("ssl_pipelines")
    project.pipelines.set_requested(["m2"])  # what `kedro run --pipelines=m2` leaves behind
    names = all_pipeline_names()
    assert {"m1", "m2", "supervised", "hybridnet"} <= set(names) and "__default__" not in names
    monkeypatch.setattr(project, "PACKAGE_NAME", None)
    with pytest.raises(RuntimeError, match="configure_project"):
        all_pipeline_names()

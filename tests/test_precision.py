"""``runtime.precision``: every method trains under ``mixed_bfloat16`` with float32 variables, loss
terms and logits and saves a model a float32 process loads; ``mixed_float16`` scales the loss in
our ``train_step`` (same step as float32 where float16 gradients would underflow); every reusable
layer and every method's train step compiles under XLA (``jit_compile=True``); the parameter is
checked, applied by its hook, recorded in MLflow and shown in the run summary."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import mlflow_runs
from method_factories import METHOD_FACTORIES, digits_split, make_method
from ssl_pipelines import layers, methods, models
from ssl_pipelines.data import ConfigError
from ssl_pipelines.params.runtime import parse_precision
from ssl_pipelines.training.precision import auto_precision, cpu_flags, resolve_precision

METHODS = sorted(METHOD_FACTORIES)


@pytest.fixture(scope="module")
def split():
    return digits_split()


@pytest.fixture
def policy():
    """Set Keras' global policy for one test and put float32 back afterwards."""
    def set_policy(name):
        keras.mixed_precision.set_global_policy(name)

    yield set_policy
    keras.mixed_precision.set_global_policy("float32")


def _floating_variables(model):
    return [v for v in model.variables if "float" in str(v.dtype) or "bfloat" in str(v.dtype)]


# === The parameter ===
@pytest.mark.parametrize("value", [None, "float32", "mixed_bfloat16", "mixed_float16", "auto"])
def test_precision_parameter_accepts_the_policies_and_auto(value):
    assert parse_precision({"precision": value}).name == (value or "float32")
    assert parse_precision(None).name == "float32"


@pytest.mark.parametrize("value", ["bf16", "mixed_bf16", 16, True, ["float32"]])
def test_bad_precision_is_named_with_the_choices(value):
    with pytest.raises(ConfigError, match=r"runtime.precision must be one of float32, mixed_bfloat16, "
                                          r"mixed_float16, auto .*got " + repr(value).replace("[", r"\[")):
        parse_precision({"precision": value})


def test_auto_picks_bfloat16_only_on_hardware_that_multiplies_it(tmp_path):
    assert auto_precision(flags={"avx2", "avx512_bf16"}, gpus=[]) == "mixed_bfloat16"
    assert auto_precision(flags={"avx2", "amx_bf16", "amx_tile"}, gpus=[]) == "mixed_bfloat16"
    assert auto_precision(flags={"avx2", "avx512f"}, gpus=[]) == "float32"
    assert auto_precision(flags=set(), gpus=[(8, 0), (9, 0)]) == "mixed_bfloat16"
    assert auto_precision(flags={"avx512_bf16"}, gpus=[(7, 5)]) == "float32"  # a GPU decides, not the CPU
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512_bf16\n")
    assert cpu_flags(info) == {"fpu", "avx2", "avx512_bf16"} and cpu_flags(tmp_path / "missing") == set()
    assert resolve_precision("mixed_float16") == "mixed_float16"
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("half")


# === Every method under mixed_bfloat16 ===
@pytest.mark.heavy(6)
@pytest.mark.parametrize("name", METHODS)
def test_every_method_trains_in_bfloat16_with_float32_state_and_loads_in_float32(name, split, policy, tmp_path):
    policy("mixed_bfloat16")
    model, stream = make_method(name, split)
    assert model.backbone.dtype_policy.compute_dtype == "bfloat16"  # the layers do compute in bfloat16
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    batch = next(iter(stream))
    terms = model.compute_losses(batch, training=True) if name != "r2d2" else {}
    for key, value in terms.items():
        if key.startswith("_"):  # not a loss term (the labeled logits the accuracy reads)
            continue
        assert value.dtype == tf.float32, f"{name}: loss term {key} is {value.dtype.name}"
    before = [v.numpy().copy() for v in model.trainable_variables]
    history = model.fit(stream, epochs=1, steps_per_epoch=2, verbose=0).history
    assert all(np.isfinite(v[-1]) for v in history.values()), history
    assert any(not np.array_equal(b, v.numpy()) for b, v in zip(before, model.trainable_variables))
    wrong = [v.path for v in _floating_variables(model) if v.dtype != "float32"]
    assert not wrong, f"{name}: variables not float32: {wrong}"
    x = split.x_test[:8]
    pred = model.predict(x, verbose=0)
    assert pred.dtype == np.float32
    path = tmp_path / f"{name}.keras"
    model.save(path)
    policy("float32")  # a float32 process
    loaded = keras.models.load_model(path)
    again = loaded.predict(x, verbose=0)
    assert again.dtype == np.float32
    np.testing.assert_allclose(again, pred, atol=1e-5)


def test_bfloat16_logits_match_float32_within_bfloat16_rounding(split, policy):
    """The same weights in both precisions: logits agree to bfloat16's ~3 significant digits, not
    to float32's (so the layers really compute in bfloat16, and nothing is lost beyond that)."""
    model, _ = make_method("supervised", split)
    weights = model.get_weights()
    ref = model.predict(split.x_test[:32], verbose=0)
    policy("mixed_bfloat16")
    half, _ = make_method("supervised", split)
    half.set_weights(weights)
    out = half.predict(split.x_test[:32], verbose=0)
    scale = np.abs(ref).max()
    assert 0 < np.abs(out - ref).max() < 0.05 * scale
    assert (out.argmax(1) == ref.argmax(1)).mean() >= 0.9


# === mixed_float16: loss scaling in our train_step ===
class TinyLoss(methods.SupervisedClassifier):
    """Cross-entropy times 1e-7: most float16 gradients of it underflow to zero (float16's smallest
    value is 6e-8) unless the loss is scaled."""

    def compute_losses(self, batch, training=True):
        terms = super().compute_losses(batch, training)
        return {**terms, "loss": 1e-7 * terms["loss"]}


def _one_step_delta(policy_name, policy, split):
    policy(policy_name)
    keras.utils.set_random_seed(0)
    net = models.build_backbone("mlp", split.input_shape, 10, hidden_units=[16])
    model = TinyLoss(net)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e4))
    before = [v.numpy().copy() for v in model.trainable_variables]
    batch = {"x_labeled": split.x_labeled[:16], "y_labeled": split.y_labeled[:16]}
    model.fit(tf.data.Dataset.from_tensors(batch), epochs=1, verbose=0)
    return model, [v.numpy() - b for v, b in zip(model.trainable_variables, before)]


def test_mixed_float16_scales_the_loss_so_underflowing_gradients_match_float32(split, policy):
    _, ref = _one_step_delta("float32", policy, split)
    model, half = _one_step_delta("mixed_float16", policy, split)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.backbone.dtype_policy.compute_dtype == "float16"
    for r, h in zip(ref, half):
        assert np.linalg.norm(r) > 0
        assert np.linalg.norm(h - r) < 0.05 * np.linalg.norm(r)  # float16's rounding, no underflow


def test_mixed_float16_logs_the_unscaled_loss(split, policy):
    policy("mixed_float16")
    model, stream = make_method("supervised", split)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    loss = model.fit(stream, epochs=1, steps_per_epoch=1, verbose=0).history["loss"][0]
    assert 1.0 < loss < 5.0  # cross-entropy of 10 classes near ln 10, not times the 32768 scale


# === XLA ===
@pytest.mark.heavy(6)
@pytest.mark.parametrize("name", METHODS)
def test_every_method_trains_under_jit_compile(name, split):
    model, stream = make_method(name, split)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=True)
    before = [v.numpy().copy() for v in model.trainable_variables]
    history = model.fit(stream, epochs=1, steps_per_epoch=2, verbose=0).history
    assert all(np.isfinite(v[-1]) for v in history.values()), history
    assert any(not np.array_equal(b, v.numpy()) for b, v in zip(before, model.trainable_variables))


def _layer_cases():
    rng = np.random.default_rng(0)
    x = tf.constant(rng.integers(0, 4, (2, 5, 6, 3)).astype("float32"))  # ties, an odd height
    net = models.build_backbone("inv_small_cnn", (8, 8, 1), 4)
    images = tf.constant(rng.random((2, 8, 8, 1)).astype("float32"))
    pooled, switches = layers.MaxPoolingWithSwitches(2)(x)
    table = layers.PseudoLabelTable(6, 3)
    table.table.assign(rng.random((6, 3)).astype("float32"))
    return {
        "MaxPoolingWithSwitches": (layers.MaxPoolingWithSwitches(2), x),
        "MaxUnpooling-switches": (layers.MaxUnpooling(2, mode="switches"), [pooled, switches, x]),
        "MaxUnpooling-fixed": (layers.MaxUnpooling(2, mode="fixed"), [pooled, x]),
        "GaussianSampling": (layers.GaussianSampling(seed=1, deterministic_inference=True),
                             [tf.ones((2, 3)), tf.zeros((2, 3))]),
        "InversionReconstruction": (layers.InversionReconstruction(net, cotangent="softmax"), images),
        "PseudoLabelTable": (table, tf.constant([0, 5, 2])),
    }


@pytest.mark.parametrize("case", sorted(_layer_cases()))
def test_every_reusable_layer_compiles_under_xla_with_the_eager_result(case):
    layer, inputs = _layer_cases()[case]
    eager = layer(inputs)
    compiled = tf.function(lambda v: layer(v), jit_compile=True)(inputs)
    for a, b in zip(tf.nest.flatten(eager), tf.nest.flatten(compiled)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-6)


def test_switch_pooling_under_xla_has_the_kernels_gradient():
    x = tf.Variable(np.random.default_rng(1).integers(0, 3, (2, 6, 6, 2)).astype("float32"))
    layer = layers.MaxPoolingWithSwitches(2)

    def grad():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x)[0] ** 2)
        return tape.gradient(loss, x)

    np.testing.assert_array_equal(tf.function(grad, jit_compile=True)().numpy(), grad().numpy())


# === Through a pipeline ===
@pytest.mark.heavy(10)
def test_precision_through_a_pipeline_run_is_applied_recorded_and_shown(kedro_project, capsys, policy):
    params = {"supervised": {"train": {"epochs": 2, "verbose": 0}}, "runtime": {"precision": "mixed_bfloat16"}}
    project, uri = kedro_project("supervised", params=params)
    run = mlflow_runs(uri).iloc[0]
    assert run["status"] == "FINISHED"
    assert run["tags.precision"] == "mixed_bfloat16" and run["params.runtime.precision"] == "mixed_bfloat16"
    assert "precision          mixed_bfloat16" in capsys.readouterr().out
    policy("float32")
    model = keras.models.load_model(project / "data/06_models/supervised/trained_model.keras")
    # as trained: the layers with weights in bfloat16 (dropout computes in float32, models/regularization.py)
    assert {layer.dtype_policy.name for layer in model.backbone.layers if layer.weights} == {"mixed_bfloat16"}
    x = np.zeros((2, 8, 8, 1), "float32")
    assert model.predict(x, verbose=0).dtype == np.float32


def test_a_bad_precision_fails_the_run_before_anything_is_written(kedro_project):
    with pytest.raises(ConfigError, match="runtime.precision must be one of"):
        kedro_project("supervised", params={"runtime": {"precision": "fp8"}})
    assert mlflow_runs(kedro_project.uri).empty
    assert not any((kedro_project.project / "data" / "06_models").iterdir())


@pytest.mark.heavy(12)
@pytest.mark.parametrize("name", METHODS)
def test_every_pipeline_runs_whole_in_bfloat16_plots_included(name, policy):
    """Every node of every pipeline (training stages, evaluation, reconstructions, samples, the
    figures) under mixed_bfloat16, on the in-memory catalog of tests/test_pipelines_sliced.py."""
    from test_pipelines_sliced import TINY, check_outputs, run_sliced

    policy("mixed_bfloat16")
    outputs = run_sliced(name, {**TINY[name], "data": {"labels_per_class": 2, "validation_per_class": 2}})
    check_outputs(name, outputs, num_test=outputs[f"{name}.split_summary"]["test"], num_classes=10)
    models_out = [v for k, v in outputs.items() if k.endswith("_model") and isinstance(v, keras.Model)]
    assert models_out, sorted(outputs)
    assert any(layer.dtype_policy.name == "mixed_bfloat16" for m in models_out for layer in m._flatten_layers())
    figures = [k for k in outputs if k.endswith("_plot")]
    assert figures, f"{name}: no figure output"


# === Roofline (train.roofline) ===
def test_train_step_flops_count_the_products_forward_and_backward():
    from ssl_pipelines.training.flops import gemm_peak_gflops, train_step_gflop

    x = keras.Input((64,))
    out = keras.layers.Dense(10, use_bias=False)(keras.layers.Dense(32, use_bias=False)(x))
    model = methods.SupervisedClassifier(keras.Model(x, out))
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    batch = {"x_labeled": np.zeros((8, 64), "float32"), "y_labeled": np.zeros((8,), "int32")}
    # forward 2*8*64*32 + 2*8*32*10; backward dW2, dh, dW1 (no gradient into the input)
    hand = 2 * 8 * 64 * 32 + 2 * 8 * 32 * 10 + 2 * 32 * 8 * 10 + 2 * 8 * 10 * 32 + 2 * 64 * 8 * 32
    gflop = train_step_gflop(model, batch)
    assert hand <= gflop * 1e9 <= 1.1 * hand  # the rest: softmax, cross-entropy and SGD's elementwise ops
    assert gemm_peak_gflops("float32", n=128, repeats=2) > 0.1


@pytest.mark.parametrize("name, kwargs", [("mlp", {"hidden_units": [16], "dropout": 0.5}),
                                          ("small_cnn", {"filters": [4], "dense_units": 8, "dropout": 0.5}),
                                          ("hybrid_convlarge", {"stages": [[4, 1]], "top": [4], "dropout": 0.5,
                                                                "input_noise": 0.1})])
def test_dropout_and_input_noise_compute_in_float32_under_a_mixed_policy(name, kwargs, policy):
    """Dropout drawn and applied in bfloat16 cost 2-5 points on the supervised MLP (RESULTS.md's
    precision sections); the backbones' random regularizers compute in float32, the rest in bfloat16."""
    policy("mixed_bfloat16")
    net = models.build_backbone(name, (8, 8, 1), 10, **kwargs)
    every = list(net._flatten_layers())  # the hybrid backbones nest their encoder
    noisy = [layer for layer in every if isinstance(layer, (keras.layers.Dropout, keras.layers.GaussianNoise))]
    assert noisy and all(layer.dtype_policy.name == "float32" for layer in noisy)
    assert any(layer.dtype_policy.name == "mixed_bfloat16" for layer in every if layer.weights)

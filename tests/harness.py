"""One test harness for every layer and model (in the style of keras-hub's ``TestCase``).

- :func:`check_layer`: config round-trip, eager and symbolic call, ``.keras`` save/reload with
  equal outputs.
- :func:`check_method_model`: one-step ``fit`` changes the weights and reports every loss term,
  ``.keras`` save/reload predicts identically, and the config round-trips.
"""

from __future__ import annotations

import warnings

import numpy as np
import keras
import tensorflow as tf


def _to_numpy(out):
    return tf.nest.map_structure(lambda t: np.asarray(t), out)


def assert_allclose_nested(a, b, atol=1e-5):
    for x, y in zip(tf.nest.flatten(a), tf.nest.flatten(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol)


def check_layer(layer_cls, init_kwargs: dict, inputs, tmp_path, call_kwargs: dict | None = None,
                expected_output_shape=None):
    """Run the standard layer checks and return the layer's eager output."""
    call_kwargs = call_kwargs or {}
    layer = layer_cls(**init_kwargs)
    out = layer(inputs, **call_kwargs)
    if expected_output_shape is not None:
        # one shape (a tuple of ints) or a list of shapes, one per output
        expected = ([tuple(expected_output_shape)] if all(isinstance(d, (int, type(None))) for d in expected_output_shape)
                    else [tuple(s) for s in expected_output_shape])
        shapes = [tuple(t.shape) for t in tf.nest.flatten(out)]
        assert shapes == expected, f"output shapes {shapes}, expected {expected}"
    # config round trip
    config = layer.get_config()
    for key in init_kwargs:
        assert key in config, f"{layer_cls.__name__}.get_config() lacks __init__ argument {key!r}"
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config
    # symbolic call
    sym_inputs = tf.nest.map_structure(lambda t: keras.Input(shape=tuple(t.shape[1:]), dtype=t.dtype,
                                                             batch_size=t.shape[0]), inputs)
    sym_out = layer_cls(**init_kwargs)(sym_inputs, **call_kwargs)
    assert len(tf.nest.flatten(sym_out)) == len(tf.nest.flatten(out))
    # save / reload inside a functional model
    model = keras.Model(sym_inputs, sym_out)
    ref = model(inputs)
    path = str(tmp_path / f"{layer_cls.__name__}.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert_allclose_nested(_to_numpy(loaded(inputs)), _to_numpy(ref))
    return out


def load_restoring_all_state(path) -> keras.Model:
    """``keras.models.load_model(path)``, failing if Keras skipped any saved state (weights or
    optimizer variables) with a "Skipping ..." warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = keras.models.load_model(path)
    skipped = [str(w.message) for w in caught if "Skipping" in str(w.message)]
    assert not skipped, f"state not restored on load: {skipped}"
    return loaded


def check_method_model(model: keras.Model, train_data, x_eval, tmp_path, optimizer=None,
                       expected_metrics=()):
    """One-step fit, save/reload with identical predictions, config round trip."""
    model.compile(optimizer=optimizer or keras.optimizers.Adam(1e-3))
    before = None
    history = model.fit(train_data, epochs=1, steps_per_epoch=1, verbose=0, shuffle=False)
    for name in ("loss", *expected_metrics):
        assert name in history.history, f"metric {name!r} missing from {sorted(history.history)}"
        assert np.isfinite(history.history[name][0]), f"{name} is not finite"
    weights_after_one = [w.numpy().copy() for w in model.trainable_weights]
    model.fit(train_data, epochs=1, steps_per_epoch=1, verbose=0, shuffle=False)
    changed = any(not np.allclose(a, w.numpy()) for a, w in zip(weights_after_one, model.trainable_weights))
    assert changed, "a training step left every trainable weight unchanged"
    del before
    pred = np.asarray(model.predict(x_eval, verbose=0))
    path = str(tmp_path / f"{type(model).__name__}.keras")
    model.save(path)
    loaded = load_restoring_all_state(path)
    np.testing.assert_allclose(np.asarray(loaded.predict(x_eval, verbose=0)), pred, atol=1e-5)
    # the optimizer state comes back too (step counter, moments), so training can continue from the file
    assert len(loaded.optimizer.variables) == len(model.optimizer.variables) > 2
    for saved, restored in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(saved), np.asarray(restored))
    resumed = keras.models.load_model(path)  # a second copy: callers inspect `loaded` as saved
    resumed.fit(train_data, epochs=1, steps_per_epoch=1, verbose=0, shuffle=False)
    assert int(resumed.optimizer.iterations) == int(model.optimizer.iterations) + 1
    config = model.get_config()
    clone = type(model).from_config(config)
    assert type(clone) is type(model)
    return loaded

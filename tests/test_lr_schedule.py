"""Constant-then-linear learning rate (released HybridNet code's effective schedule, METHODS.md §1.3)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from ssl_pipelines.data import ConfigError
from ssl_pipelines.params import parse_train


def prepare_training(params, seed):
    return parse_train(params, seed)[0]
from ssl_pipelines.training import LinearLrDecay, linear_decay_factor


def test_factor_matches_the_released_schedule_by_hand():
    # 300 epochs, constant to 180 (0.6), then linear to 0 at the last epoch, 299: METHODS.md §1.3's
    # table (lr 0.003 -> 0.0025 at 200, 0.00124 at 250, 0 at 299); 0.003 * (299 - e) / 119 by hand
    f = [float(linear_decay_factor(e, 300, 0.6)) for e in (0, 179, 180, 200, 250, 299)]
    np.testing.assert_allclose(np.multiply(f, 0.003), [0.003, 0.003, 0.003, 0.003 * 99 / 119, 0.003 * 49 / 119, 0.0],
                               atol=1e-7)
    assert round(0.003 * 99 / 119, 4) == 0.0025 and round(0.003 * 49 / 119, 5) == 0.00124
    assert float(linear_decay_factor(9, 10, 0.0)) == 0.0 and float(linear_decay_factor(0, 10, 0.0)) == 1.0


def _fit_recording_lr(decay_start, epochs=2, steps=5):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    data = tf.data.Dataset.from_tensors((tf.ones((4, 3)), tf.zeros((4, 2)))).repeat()
    model.fit(data, epochs=epochs, steps_per_epoch=steps, verbose=0,
              callbacks=[LinearLrDecay(0.1, decay_start), Record()])
    return seen


def test_callback_sets_the_rate_before_every_step_over_all_epochs():
    seen = _fit_recording_lr(0.6)  # 10 steps: constant through step 6, then 0.1 * (9 - s) / 3
    np.testing.assert_allclose(seen, [0.1] * 7 + [0.2 / 3, 0.1 / 3, 0.0], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("bad", [1.0, -0.1, "0.5", True])
def test_bad_decay_start_is_rejected_by_the_train_parameters(bad):
    with pytest.raises(ConfigError, match="lr_decay_start must be null"):
        prepare_training({"epochs": 1, "lr_decay_start": bad}, seed=0)


def test_train_config_adds_the_decay_only_when_asked():
    assert prepare_training({"epochs": 1}, seed=0).lr_decay_start is None
    assert prepare_training({"epochs": 1, "lr_decay_start": 0.6}, seed=0).lr_decay_start == 0.6

"""Constant-then-linear learning rate (released HybridNet code's effective schedule, METHODS.md §1.3)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from ssl_pipelines.data import ConfigError
from ssl_pipelines.params import parse_train
from ssl_pipelines.training import LinearLrDecay, budget_decay_factor, linear_decay_factor


def prepare_training(params, seed):
    return parse_train(params, seed)[0]


def test_factor_matches_the_released_schedule_by_hand():
    # 300 epochs, constant to 180 (0.6), then linear to 0 at the last epoch, 299: METHODS.md §1.3's
    # table (lr 0.003 -> 0.0025 at 200, 0.00124 at 250, 0 at 299); 0.003 * (299 - e) / 119 by hand
    f = [float(linear_decay_factor(e, 300, 0.6)) for e in (0, 179, 180, 200, 250, 299)]
    np.testing.assert_allclose(np.multiply(f, 0.003), [0.003, 0.003, 0.003, 0.003 * 99 / 119, 0.003 * 49 / 119, 0.0],
                               atol=1e-7)
    assert round(0.003 * 99 / 119, 4) == 0.0025 and round(0.003 * 49 / 119, 5) == 0.00124
    assert float(linear_decay_factor(9, 10, 0.0)) == 0.0 and float(linear_decay_factor(0, 10, 0.0)) == 1.0


def test_budget_factor_by_hand():
    # start 0.5: constant for the first half of the budget, then 1 - (u - 0.5) / 0.5, 0 once used up
    got = [budget_decay_factor(u, 0.5) for u in (0.0, 0.5, 0.6, 0.75, 1.0, 1.3)]
    np.testing.assert_allclose(got, [1.0, 1.0, 0.8, 0.5, 0.0, 0.0], atol=1e-12)
    assert budget_decay_factor(0.25, 0.0) == 0.75


class _FakeBudget:
    """A budget of 1 minute whose clock advances 6 s per training step (a 10-step budget)."""
    minutes = 1.0

    def __init__(self):
        self.steps = 0

    def used_seconds(self):
        return 6.0 * self.steps

    def on_step(self):
        self.steps += 1


def test_a_time_budget_drives_the_decay_when_it_runs_out_before_the_epochs():
    # 100 steps allowed by the epochs, but the budget is used up after 10: with start 0.6 the rate
    # is constant until 6 of the 10 budget steps, then 0.1 * (1 - (s/10 - 0.6) / 0.4) = 0.1 * (10 - s) / 4
    budget = _FakeBudget()
    decay = LinearLrDecay(0.1, 0.6, budget=budget)
    decay.total = 100
    seen = []
    for step in range(10):
        seen.append(0.1 * decay.factor(step))
        budget.on_step()
    np.testing.assert_allclose(seen, [0.1] * 7 + [0.075, 0.05, 0.025], atol=1e-12)
    # the step schedule still wins when it is further along (a budget that is never used up)
    decay_steps = LinearLrDecay(0.1, 0.6, budget=_FakeBudget())
    decay_steps.total = 10
    assert decay_steps.factor(9) == 0.0


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

"""CpuTimeBudget: stops fit at an epoch / step boundary once the training CPU time (a fake clock
here, advanced by the steps) exceeds the budget; validation time is not counted."""

import keras
import numpy as np
import pytest

from ssl_pipelines.data import ConfigError
from ssl_pipelines.training import CpuTimeBudget


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Work(keras.callbacks.Callback):
    """Each training step costs 30 CPU-s, each validation step 100 CPU-s (on the fake clock)."""

    def __init__(self, clock):
        super().__init__()
        self.clock = clock

    def on_train_batch_begin(self, batch, logs=None):
        self.clock.now += 30.0

    def on_test_batch_begin(self, batch, logs=None):
        self.clock.now += 100.0


def fit_with(budget, monkeypatch, validation=True, clock_name="process_time"):
    clock = FakeClock()
    monkeypatch.setattr(f"time.{clock_name}", clock)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((8, 2), "float32")
    y = np.zeros((8, 1), "float32")
    history = model.fit(x, y, batch_size=2, epochs=10, verbose=0, callbacks=[Work(clock), budget],
                        validation_data=(x[:2], y[:2]) if validation else None)
    return history


def test_epoch_check_finishes_the_epoch_that_runs_over_and_ignores_validation_time(monkeypatch):
    budget = CpuTimeBudget(minutes=5, check="epoch")  # 300 s; 4 steps x 30 s = 120 s per epoch
    history = fit_with(budget, monkeypatch)
    # 120, 240, 360 > 300: three epochs (counting the 100 s validations would stop after two)
    assert len(history.history["loss"]) == 3
    assert budget.summary() == {"budget_cpu_minutes": 5.0, "cpu_minutes": 6.0, "epochs_completed": 3,
                                "steps_completed": 12, "stopped_early": True, "stopped_at": {"epoch": 3, "step": 4},
                                "stop_reason": "cpu_budget"}


def test_step_check_stops_after_the_step_that_runs_over(monkeypatch):
    budget = CpuTimeBudget(minutes=1, check="step")  # 60 s: steps at 30, 60 (not over), 90 (over)
    history = fit_with(budget, monkeypatch, validation=False)
    assert len(history.history["loss"]) == 1
    assert budget.stopped_at == {"epoch": 1, "step": 3} and budget.steps_completed == 3
    assert budget.cpu_seconds == pytest.approx(90.0)


def test_a_resumed_stage_goes_on_counting_from_its_checkpoint(monkeypatch):
    """The counts travel with the checkpoint: a run killed after 2 epochs (240 of 300 CPU-s) and
    resumed at epoch 3 stops after that epoch, as the uninterrupted run does, and reports the whole
    run (3 epochs, 12 steps, 6 CPU-min), not only the resumed part."""
    first = CpuTimeBudget(minutes=5, check="epoch")
    fit_with(first, monkeypatch)
    saved = {"seconds": 240.0, "epochs": 2, "steps": 8, "stopped_early": False, "stopped_at": None}
    resumed = CpuTimeBudget(minutes=5, check="epoch")
    resumed.restore_checkpoint_state(saved)  # training/checkpoint.py: before fit, so before on_train_begin
    clock = FakeClock()
    monkeypatch.setattr("time.process_time", clock)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.zeros((8, 2), "float32"), np.zeros((8, 1), "float32")
    history = model.fit(x, y, batch_size=2, epochs=10, initial_epoch=2, verbose=0, callbacks=[Work(clock), resumed])
    assert len(history.history["loss"]) == 1  # epoch 3 only: 240 + 120 > 300
    assert resumed.summary() == first.summary()
    assert resumed.checkpoint_state() == {"seconds": 360.0, "epochs": 3, "steps": 12, "stopped_early": True,
                                          "stopped_at": {"epoch": 3, "step": 4}}
    fresh = CpuTimeBudget(minutes=5)
    fresh.restore_checkpoint_state({})  # a checkpoint written before the budget kept its counts
    assert fresh.summary()["steps_completed"] == 0


def test_a_budget_not_reached_lets_fit_finish(monkeypatch):
    budget = CpuTimeBudget(minutes=100, check="step")
    history = fit_with(budget, monkeypatch)
    assert len(history.history["loss"]) == 10 and not budget.stopped_early and budget.stopped_at is None
    assert budget.epochs_completed == 10 and budget.cpu_seconds == pytest.approx(10 * 120.0)


def test_wall_clock_budget_counts_wall_seconds_the_same_way(monkeypatch):
    budget = CpuTimeBudget(minutes=5, check="epoch", clock="wall")
    history = fit_with(budget, monkeypatch, clock_name="perf_counter")
    assert len(history.history["loss"]) == 3  # as the CPU budget above, on the wall clock
    assert budget.summary() == {"budget_wall_minutes": 5.0, "wall_minutes": 6.0, "epochs_completed": 3,
                                "steps_completed": 12, "stopped_early": True, "stopped_at": {"epoch": 3, "step": 4},
                                "stop_reason": "wall_budget"}


def test_wall_clock_budget_ignores_cpu_time(monkeypatch):
    budget = CpuTimeBudget(minutes=5, check="epoch", clock="wall")
    history = fit_with(budget, monkeypatch, clock_name="process_time")  # the wall clock barely moves
    assert len(history.history["loss"]) == 10 and not budget.stopped_early


@pytest.mark.parametrize("minutes, check, message", [
    (0, "epoch", "positive number of minutes, got 0"),
    (-1.5, "epoch", "positive number of minutes, got -1.5"),
    (True, "epoch", "positive number of minutes, got True"),
    ("5", "epoch", "positive number of minutes, got '5'"),
    (5, "batch", r"check must be one of \['epoch', 'step'\], got 'batch'"),
])
def test_bad_budget_is_refused_naming_the_value(minutes, check, message):
    with pytest.raises(ConfigError, match=message):
        CpuTimeBudget(minutes, check)


def test_bad_clock_is_refused_naming_the_value():
    with pytest.raises(ConfigError, match=r"clock must be one of \['cpu', 'wall'\], got 'gpu'"):
        CpuTimeBudget(5, "epoch", clock="gpu")

"""build_optimizer: PyTorch-style (coupled) L2 weight decay vs Keras' decoupled weight decay, each
against its hand formula; both serialize; bad values are ConfigErrors."""

import keras
import numpy as np
import pytest

from ssl_pipelines.data.errors import ConfigError
from ssl_pipelines.training import build_optimizer

LR, MU, WD = 0.1, 0.9, 0.05
W0 = np.array([1.0, -2.0, 0.5], np.float32)
C = np.array([0.3, 0.1, -0.2], np.float32)  # loss = sum(C * w^2) / 2 -> gradient C * w


def _run(opt_params, steps=3):
    opt = build_optimizer(opt_params)
    w = keras.Variable(W0.copy())
    for _ in range(steps):
        opt.apply([keras.ops.convert_to_tensor(C * np.asarray(w))], [w])
    return np.asarray(w), opt


def _torch_sgd_nesterov(steps=3):
    """torch.optim.SGD(lr, momentum, nesterov=True, weight_decay): d = g + wd*w; buf = mu*buf + d
    (buf = d at the first step); w -= lr * (d + mu*buf)."""
    w, buf = W0.astype(np.float64), None
    for _ in range(steps):
        d = C * w + WD * w
        buf = d if buf is None else MU * buf + d
        w = w - LR * (d + MU * buf)
    return w


def _keras_decoupled(steps=3):
    """Keras SGD with weight_decay: w <- w - lr*wd*w first, then the Nesterov step on the loss
    gradient only (v = mu*v - lr*g; w += mu*v - lr*g), g taken at the step's starting w."""
    w, v = W0.astype(np.float64), np.zeros(3)
    for _ in range(steps):
        g = C * w
        w = w - LR * WD * w
        v = MU * v - LR * g
        w = w + MU * v - LR * g
    return w


def test_coupled_weight_decay_is_pytorch_sgd_with_nesterov_momentum():
    w, opt = _run({"name": "sgd", "learning_rate": LR, "momentum": MU, "nesterov": True, "coupled_weight_decay": WD})
    np.testing.assert_allclose(w, _torch_sgd_nesterov(), rtol=1e-5)
    assert not np.allclose(w, _keras_decoupled(), rtol=1e-3)  # the two semantics really differ here
    assert opt.get_config()["coupled_weight_decay"] == WD and opt.weight_decay is None


def test_decoupled_weight_decay_still_follows_keras_definition():
    w, _ = _run({"name": "sgd", "learning_rate": LR, "momentum": MU, "nesterov": True, "weight_decay": WD})
    np.testing.assert_allclose(w, _keras_decoupled(), rtol=1e-5)


def test_coupled_adam_adds_decay_before_the_moments():
    w, _ = _run({"name": "adam", "learning_rate": LR, "coupled_weight_decay": WD}, steps=1)
    # the first Adam step is -lr * g_hat / (|g_hat| + eps') ~ -lr * sign(g + wd*w)
    np.testing.assert_allclose(w, W0 - LR * np.sign(C * W0 + WD * W0), atol=1e-5)


def test_coupled_optimizer_round_trips_in_a_saved_model(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=build_optimizer({"name": "sgd", "learning_rate": 0.01, "momentum": 0.9,
                                             "nesterov": True, "coupled_weight_decay": 2e-4}), loss="mse")
    model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded.optimizer).__name__ == "CoupledSGD"
    assert loaded.optimizer.coupled_weight_decay == pytest.approx(2e-4) and loaded.optimizer.nesterov
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("params, match", [
    ({"name": "sgd", "coupled_weight_decay": -1e-4}, r"coupled_weight_decay must be a non-negative number.*-0.0001"),
    ({"name": "sgd", "coupled_weight_decay": "2e-4"}, r"coupled_weight_decay must be a non-negative number.*'2e-4'"),
    ({"name": "sgd", "weight_decay": True}, r"weight_decay must be a non-negative number.*True"),
    ({"name": "adamw", "coupled_weight_decay": 1e-4}, r"not available for 'adamw'.*expected one of"),
    ({"name": "sgd", "weight_decay": 1e-4, "coupled_weight_decay": 1e-4}, r"not both"),
    ({"name": "sgd", "coupled_weigth_decay": 1e-4}, r"bad optimizer parameters for 'sgd'.*coupled_weigth_decay"),
])
def test_bad_weight_decay_options_are_config_errors(params, match):
    with pytest.raises(ConfigError, match=match):
        build_optimizer(params)

"""``SSLModel.make_train_function`` builds the optimizer before the train step is traced
(methods/base.py): the step is traced once per ``fit``, not twice, and trains exactly as with
Keras' own lazy build (the optimizer made inside the first trace)."""

import keras
import pytest

from ssl_pipelines import data, methods, models, training


@pytest.fixture(scope="module")
def split():
    return data.split_labeled_unlabeled(data.load_dataset("digits"), labels_per_class=10, seed=0)


def _fit(split, monkeypatch, lazy: bool, through_fit_model: bool):
    traces = []
    train_step = methods.SupervisedClassifier.train_step
    monkeypatch.setattr(methods.SupervisedClassifier, "train_step",
                        lambda self, batch: traces.append(1) or train_step(self, batch))
    if lazy:  # Keras' behaviour: the optimizer is built inside the first trace
        monkeypatch.setattr(methods.SupervisedClassifier, "make_train_function",
                            keras.Model.make_train_function)
    training.set_global_seed(0)
    net = models.build_backbone("small_cnn", split.input_shape, 10, filters=[8, 16], dense_units=32, dropout=0.0)
    model = methods.SupervisedClassifier(net)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    stream = data.ssl_stream(split.x_labeled, split.y_labeled, batch_labeled=20, seed=0)
    if through_fit_model:
        losses = training.fit_model(model, stream, epochs=2, steps_per_epoch=3, verbose=0)["loss"]
    else:
        losses = model.fit(stream, epochs=2, steps_per_epoch=3, verbose=0).history["loss"]
    monkeypatch.undo()
    return len(traces), losses, int(model.optimizer.iterations)


@pytest.mark.parametrize("through_fit_model", [True, False])
def test_train_step_is_traced_once_and_trains_as_with_the_lazy_build(split, monkeypatch, through_fit_model):
    traces, losses, steps = _fit(split, monkeypatch, lazy=False, through_fit_model=through_fit_model)
    lazy_traces, lazy_losses, lazy_steps = _fit(split, monkeypatch, lazy=True, through_fit_model=through_fit_model)
    assert lazy_traces == 2  # Keras alone: variables made in the first trace -> traced again
    assert traces == 1
    assert losses == lazy_losses and steps == lazy_steps == 6

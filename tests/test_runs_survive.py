"""Runs that survive: resume after interruption, non-finite losses, atomic model files,
determinism, an unreachable MLflow server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import make_project_copy, mlflow_runs
from ssl_pipelines import data, methods, models, training
from ssl_pipelines.training import checkpoint as ckpt


@pytest.fixture(scope="module")
def split():
    return data.split_labeled_unlabeled(data.load_dataset("digits"), labels_per_class=10, seed=0)


def _model_and_stream(split, model_cls=methods.SupervisedClassifier):
    training.set_global_seed(0)
    net = models.build_backbone("small_cnn", split.input_shape, 10, filters=[8, 16], dense_units=32, dropout=0.3)
    model = model_cls(net)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    stream = data.ssl_stream(split.x_labeled, split.y_labeled, batch_labeled=20, seed=0, augment={"max_shift": 1})
    return model, stream


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, after_epoch):
        super().__init__()
        self.after_epoch = after_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.after_epoch:
            raise KeyboardInterrupt


def test_interrupted_fit_resumes_to_exactly_the_uninterrupted_result(split, tmp_path):
    full, stream = _model_and_stream(split)
    h_full = training.fit_model(full, stream, epochs=5, steps_per_epoch=4, verbose=0)

    model, stream = _model_and_stream(split)
    with pytest.raises(KeyboardInterrupt):
        training.fit_model(model, stream, epochs=5, steps_per_epoch=4, verbose=0, checkpoint_dir=tmp_path,
                           callbacks=[_Interrupt(after_epoch=2)])
    assert ckpt.read_meta(tmp_path)["epoch"] == 2 and not ckpt.read_meta(tmp_path)["complete"]

    resumed, stream = _model_and_stream(split)  # a fresh process would build exactly this
    h_resumed = training.fit_model(resumed, stream, epochs=5, steps_per_epoch=4, verbose=0, checkpoint_dir=tmp_path)
    assert h_resumed["loss"] == h_full["loss"]  # epochs 1-2 from the checkpoint, 3-5 trained again
    x = split.x_test[:32]
    np.testing.assert_array_equal(resumed.predict(x, verbose=0), full.predict(x, verbose=0))
    assert ckpt.read_meta(tmp_path)["complete"]

    # a completed stage is restored, not retrained
    again, stream = _model_and_stream(split)
    h_again = training.fit_model(again, stream, epochs=5, steps_per_epoch=4, verbose=0, checkpoint_dir=tmp_path)
    assert h_again == h_resumed
    np.testing.assert_array_equal(again.predict(x, verbose=0), full.predict(x, verbose=0))


def test_kill_between_writing_the_state_and_its_readable_copy_resumes_exactly(split, tmp_path, monkeypatch):
    """A process killed after the new state file landed but before ``state.json`` was replaced (the
    window CI once hit with SIGKILL) resumes from the state it has, under that state's epoch."""
    full, stream = _model_and_stream(split)
    h_full = training.fit_model(full, stream, epochs=5, steps_per_epoch=4, verbose=0)

    real_replace, meta_writes = os.replace, []

    def killed_before_the_third_meta(src, dst):
        if os.path.basename(dst) == ckpt.META_FILE:
            meta_writes.append(dst)
            if len(meta_writes) == 3:
                raise KeyboardInterrupt  # state.npz of epoch 3 is in place, state.json still says 2
        return real_replace(src, dst)

    model, stream = _model_and_stream(split)
    monkeypatch.setattr(os, "replace", killed_before_the_third_meta)
    with pytest.raises(KeyboardInterrupt):
        training.fit_model(model, stream, epochs=5, steps_per_epoch=4, verbose=0, checkpoint_dir=tmp_path)
    monkeypatch.setattr(os, "replace", real_replace)
    assert json.loads((tmp_path / ckpt.META_FILE).read_text())["epoch"] == 2
    assert ckpt.read_meta(tmp_path)["epoch"] == 3  # the metadata that travels with the state

    resumed, stream = _model_and_stream(split)
    h_resumed = training.fit_model(resumed, stream, epochs=5, steps_per_epoch=4, verbose=0, checkpoint_dir=tmp_path)
    assert h_resumed["loss"] == h_full["loss"]
    x = split.x_test[:32]
    np.testing.assert_array_equal(resumed.predict(x, verbose=0), full.predict(x, verbose=0))


def test_checkpoint_of_another_configuration_is_not_resumed(split, tmp_path):
    model, stream = _model_and_stream(split)
    training.fit_model(model, stream, epochs=2, steps_per_epoch=2, verbose=0, checkpoint_dir=tmp_path)
    other, stream = _model_and_stream(split)
    other.compile(optimizer=keras.optimizers.Adam(5e-4))  # another learning rate: another experiment
    h = training.fit_model(other, stream, epochs=2, steps_per_epoch=2, verbose=0, checkpoint_dir=tmp_path)
    assert len(h["loss"]) == 2 and ckpt.read_meta(tmp_path)["fingerprint"] != ""


_CLEAN_LOSSES = methods.SupervisedClassifier.compute_losses


def _poisoned_compute_losses(self, batch, training=True):
    """Test-only loss hook: a 'reconstruction' term that becomes NaN from the 3rd step on."""
    terms = _CLEAN_LOSSES(self, batch, training)
    step = tf.cast(self.optimizer.iterations, tf.float32)
    poison = tf.where(step >= 2.0, tf.constant(np.nan, tf.float32), 0.0)
    terms["reconstruction"] = tf.constant(0.5) + poison
    terms["loss"] = terms["loss"] + terms["reconstruction"]
    return terms


@keras.saving.register_keras_serializable(package="ssl_pipelines_tests")
class PoisonedClassifier(methods.SupervisedClassifier):
    loss_terms = ("cross_entropy", "reconstruction")
    compute_losses = _poisoned_compute_losses


def test_non_finite_loss_stops_with_the_term_and_step(split):
    model, stream = _model_and_stream(split, PoisonedClassifier)
    with pytest.raises(training.NonFiniteLossError, match=r"loss term '(loss|reconstruction)' is nan at epoch 1, step 3"):
        training.fit_model(model, stream, epochs=3, steps_per_epoch=5, verbose=0, stage="poisoned")


@pytest.mark.heavy(7)
def test_failed_run_is_marked_failed_and_keeps_the_good_model(kedro_project, monkeypatch):
    params = {"supervised": {"train": {"epochs": 2, "verbose": 0}}}
    project, uri = kedro_project("supervised", params=params)
    model_file = project / "data/06_models/supervised/trained_model.keras"
    good = model_file.read_bytes()

    monkeypatch.setattr(methods.SupervisedClassifier, "compute_losses", _poisoned_compute_losses)
    monkeypatch.setattr(methods.SupervisedClassifier, "loss_terms", PoisonedClassifier.loss_terms)
    with pytest.raises(Exception) as err:
        kedro_project("supervised", params=params)
    assert "is nan" in str(err.value) or "is nan" in str(err.value.__cause__)
    assert model_file.read_bytes() == good  # the good model was not replaced
    assert not list(model_file.parent.glob(".*partial*"))
    runs = mlflow_runs(uri)
    assert list(runs["status"]) == ["FAILED", "FINISHED"]  # newest first; nothing left RUNNING


def test_unreachable_tracking_server_fails_fast_or_falls_back(kedro_project, monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # discard port: refused
    monkeypatch.delenv("SSL_PIPELINES_MLFLOW_FALLBACK_URI", raising=False)
    start = time.monotonic()
    with pytest.raises(ConnectionError, match=r"MLflow tracking server http://127.0.0.1:9 is unreachable"):
        kedro_project("supervised", params={"supervised": {"train": {"epochs": 1, "verbose": 0}}})
    assert time.monotonic() - start < 60

    fallback = f"sqlite:///{tmp_path / 'fallback.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("SSL_PIPELINES_MLFLOW_FALLBACK_URI", fallback)
    kedro_project("supervised", params={"supervised": {"train": {"epochs": 1, "verbose": 0}}})
    runs = mlflow_runs(fallback)
    assert list(runs["status"]) == ["FINISHED"]


def _kedro(work, extra_params, env_extra=None):
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}", "KEDRO_DISABLE_TELEMETRY": "1",
           **(env_extra or {})}
    kedro = os.path.join(os.path.dirname(sys.executable), "kedro")
    params = ("supervised.train.epochs=12,supervised.train.steps_per_epoch=4,supervised.train.verbose=0,"
              "supervised.train.deterministic=true" + extra_params)
    return [kedro, "run", "--pipelines=supervised", "--params", params], env


@pytest.mark.heavy(49)
@pytest.mark.timeout(600)
def test_killed_run_resumes_with_the_same_command_and_matches(tmp_path, kedro_project):
    """SIGKILL a `kedro run` mid-training, run the same command again: it resumes from the last
    checkpoint and ends with exactly the metrics of an uninterrupted run (CPU, op determinism), in
    one FINISHED MLflow run with every epoch's curve (the killed run KILLED). The uninterrupted
    reference runs the same parameters in this process (a KedroSession: no ~9 s of imports)."""
    train = {"epochs": 12, "steps_per_epoch": 4, "verbose": 0, "deterministic": True}
    reference, _ = kedro_project("supervised", params={"supervised": {"train": train}})
    expected = json.loads((reference / "data/08_reporting/supervised/evaluation_report.json").read_text())

    work = make_project_copy(tmp_path / "work", mlflow_db=True)
    cmd, env = _kedro(work, "")
    meta = work / "data/06_models/checkpoints/supervised/train_supervised/supervised/state.json"
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed_at = None
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            epoch = json.loads(meta.read_text())["epoch"]
        except (OSError, ValueError, KeyError):
            epoch = 0
        if epoch >= 4:
            proc.send_signal(signal.SIGKILL)
            killed_at = epoch
            break
        time.sleep(0.05)
    proc.wait(timeout=60)
    assert killed_at is not None, "the run finished before it could be interrupted"
    assert not (work / "data/08_reporting/supervised/evaluation_report.json").exists()

    done = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "resuming from epoch" in done.stdout + done.stderr
    got = json.loads((work / "data/08_reporting/supervised/evaluation_report.json").read_text())
    assert got["accuracy"] == expected["accuracy"]
    assert got["confusion_matrix"] == expected["confusion_matrix"]
    assert not meta.exists()  # checkpoints of the successful run are gone
    # the killed run is KILLED (not RUNNING forever), the rerun's run holds every epoch once
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{work / 'mlflow.db'}")
    runs = {r.info.status: r for r in client.search_runs([client.get_experiment_by_name("ssl_pipelines").experiment_id])}
    assert sorted(runs) == ["FINISHED", "KILLED"]
    assert runs["KILLED"].data.tags["ssl_pipelines.resumed_by"] == runs["FINISHED"].info.run_id
    steps = sorted(m.step for m in client.get_metric_history(runs["FINISHED"].info.run_id, "supervised.loss"))
    assert steps == list(range(12)), steps


def _resume_matches(split, make_model, stream_kwargs, tmp_path):
    """Interrupt after epoch 2 of 4, resume in a fresh model: same losses and predictions as an
    uninterrupted run."""
    def build():
        training.set_global_seed(0)
        model = make_model()
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        return model, data.ssl_stream(split.x_labeled, split.y_labeled, split.x_unlabeled, seed=0, **stream_kwargs)

    full, stream = build()
    h_full = training.fit_model(full, stream, epochs=4, steps_per_epoch=3, verbose=0)
    model, stream = build()
    with pytest.raises(KeyboardInterrupt):
        training.fit_model(model, stream, epochs=4, steps_per_epoch=3, verbose=0, checkpoint_dir=tmp_path,
                           callbacks=[_Interrupt(after_epoch=1)])
    resumed, stream = build()
    h_resumed = training.fit_model(resumed, stream, epochs=4, steps_per_epoch=3, verbose=0, checkpoint_dir=tmp_path)
    np.testing.assert_allclose(h_resumed["loss"], h_full["loss"], rtol=1e-6)
    x = split.x_test[:16]
    np.testing.assert_allclose(resumed.predict(x, verbose=0), full.predict(x, verbose=0), atol=1e-6)
    return full, resumed


def test_resume_restores_the_ema_teacher(split, tmp_path):
    def make():
        net = models.build_backbone("small_cnn", split.input_shape, 10, filters=[8], dense_units=16, dropout=0.0)
        return methods.MeanTeacher(net)

    full, resumed = _resume_matches(split, make, {"batch_labeled": 10, "batch_unlabeled": 20}, tmp_path)
    for a, b in zip(full.teacher.weights, resumed.teacher.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


def test_resume_restores_the_r2d2_pseudo_label_table(split, tmp_path):
    n = len(split.x_labeled) + len(split.x_unlabeled)

    def make():
        net = models.build_backbone("small_cnn", split.input_shape, 10, filters=[8], dense_units=16, dropout=0.0)
        return methods.R2D2(net, num_examples=n, num_labeled=len(split.x_labeled))

    full, resumed = _resume_matches(split, make, {"batch_labeled": 10, "batch_unlabeled": 20, "with_indices": True},
                                    tmp_path)
    tables = [[v.numpy() for v in m.variables if "pseudo" in v.path] for m in (full, resumed)]
    assert tables[0], [v.path for v in full.variables]
    for a, b in zip(*tables):
        np.testing.assert_allclose(a, b, atol=1e-6)

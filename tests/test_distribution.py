"""tf.distribute: MirroredStrategy over 2 logical CPU devices gives the default
strategy's result within float tolerance, for the library and through a Kedro run."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import make_project_copy

LIBRARY_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np, keras, tensorflow as tf
    from ssl_pipelines.training.distribute import make_strategy
    mirrored = make_strategy("mirrored", logical_cpu_devices=2)
    from ssl_pipelines import data, methods, models, training
    sp = data.split_labeled_unlabeled(data.load_dataset("digits"), labels_per_class=20, seed=0)
    training.set_global_seed(0)
    init = models.build_backbone("small_cnn", sp.input_shape, 10, filters=[8, 16], dense_units=32,
                                 dropout=0.0).get_weights()

    def run(strategy):
        with strategy.scope():
            net = models.build_backbone("small_cnn", sp.input_shape, 10, filters=[8, 16], dense_units=32,
                                        dropout=0.0)
            net.set_weights(init)
            model = methods.SupervisedClassifier(net)
            model.compile(optimizer=keras.optimizers.SGD(0.1))
        stream = data.ssl_stream(sp.x_labeled, sp.y_labeled, batch_labeled=40, seed=0)
        history = training.fit_model(model, stream, epochs=3, steps_per_epoch=5, verbose=0)
        return history["loss"], model.predict(sp.x_test[:64], verbose=0)

    loss_default, pred_default = run(tf.distribute.get_strategy())
    loss_mirrored, pred_mirrored = run(mirrored)
    json.dump({"replicas": mirrored.num_replicas_in_sync, "loss_default": loss_default,
               "loss_mirrored": loss_mirrored,
               "max_pred_diff": float(np.abs(pred_default - pred_mirrored).max())}, open(sys.argv[1], "w"))
""")


@pytest.mark.heavy(11)
@pytest.mark.timeout(300)
def test_mirrored_strategy_matches_default_strategy(tmp_path):
    out = tmp_path / "result.json"
    subprocess.run([sys.executable, "-c", LIBRARY_SCRIPT, str(out)], check=True, timeout=280)
    result = json.loads(out.read_text())
    assert result["replicas"] == 2
    for a, b in zip(result["loss_default"], result["loss_mirrored"]):
        assert abs(a - b) < 1e-4, result
    assert result["max_pred_diff"] < 1e-4, result
    assert result["loss_default"][-1] < result["loss_default"][0]  # it trained


@pytest.mark.heavy(44)
@pytest.mark.timeout(300)
@pytest.mark.parametrize("pipeline, params", [
    # three stages, models handed between them through the catalog, a pseudo-label table; its
    # first stage is the supervised pipeline's stage (common_training.train_stage on a
    # SupervisedClassifier), so a separate `supervised` run (36 s) would test nothing more
    # (d2 and finetune epochs cut to a few steps: the point is that every stage runs mirrored)
    ("r2d2", "r2d2.supervised.epochs=4,r2d2.d2.epochs=3,r2d2.d2.steps_per_epoch=6,r2d2.d2.repredict_at=[1],"
             "r2d2.d2.lr_schedule=[],r2d2.finetune.epochs=1,r2d2.finetune.steps_per_epoch=6"),
])
def test_pipeline_runs_under_mirrored_strategy(tmp_path, pipeline, params):
    work = make_project_copy(tmp_path / "project", mlflow_db=True)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}", "KEDRO_DISABLE_TELEMETRY": "1",
           "COLUMNS": "250"}
    kedro = os.path.join(os.path.dirname(sys.executable), "kedro")
    proc = subprocess.run(
        [kedro, "run", f"--pipelines={pipeline}", "--params",
         f"runtime.strategy=mirrored,runtime.logical_cpu_devices=2,{params}"],
        cwd=work, env=env, capture_output=True, text=True, timeout=280)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "distribution strategy mirrored with 2 replicas" in log
    report = json.loads((work / f"data/08_reporting/{pipeline}/evaluation_report.json").read_text())
    assert report["accuracy"] > 0.4  # chance is 0.1


def test_unknown_strategy_is_rejected():
    from ssl_pipelines.data import ConfigError
    from ssl_pipelines.training.distribute import make_strategy

    with pytest.raises(ConfigError, match=r"unknown strategy 'tpu_pod'; expected one of"):
        make_strategy("tpu_pod")

"""Hostile inputs (.npz and IDX data files, checkpoint files, the MLflow store), one table per
family: each is a clear error before training (or, for checkpoints, a warning and a fresh start),
no MLflow run left RUNNING, nothing already written harmed. Plus the checkpoint folder's cleanup and lock (only what the run wrote is deleted; a
second run of the same pipeline stops at once)."""

from __future__ import annotations

import fcntl
import gzip
import json
import logging
import struct
import zipfile

import keras
import numpy as np
import pytest

from conftest import mlflow_runs
from ssl_pipelines import data, methods, models, training
from ssl_pipelines.data import ConfigError, DataError
from ssl_pipelines.pipelines.common_nodes import load_dataset
from ssl_pipelines.training import checkpoint as ckpt


# === .npz data files ===
def _arrays(**overrides):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.random((40, 4, 4, 1), np.float32), "y_train": np.arange(40) % 4,
              "x_test": rng.random((8, 4, 4, 1), np.float32), "y_test": np.arange(8) % 4}
    arrays.update(overrides)
    return {k: v for k, v in arrays.items() if v is not None}


def _npz(tmp_path, **overrides):
    path = tmp_path / "data.npz"
    np.savez(path, **_arrays(**overrides))
    return path


def _truncated(tmp_path):
    path = _npz(tmp_path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def _garbage(tmp_path):
    path = tmp_path / "data.npz"
    path.write_bytes(b"PK\x03\x04 not really a zip file" + bytes(range(200)))
    return path


def _bad_member(tmp_path):  # a valid zip whose member is not an .npy array
    path = tmp_path / "data.npz"
    with zipfile.ZipFile(path, "w") as z:
        for k in ("x_train", "y_train", "x_test", "y_test"):
            z.writestr(f"{k}.npy", b"\x93NUMPY garbage")
    return path


def _nan(tmp_path):
    x = np.random.default_rng(0).random((40, 4, 4, 1), np.float32)
    x[5, 1, 1, 0] = np.nan
    return _npz(tmp_path, x_train=x)


NPZ = {
    "truncated .npz": (_truncated, {}, r"is not a readable \.npz file \((BadZipFile|EOFError|OSError|ValueError)"),
    "non-zip garbage": (_garbage, {}, r"is not a readable \.npz file"),
    "zip of garbage members": (_bad_member, {}, r"is not a readable \.npz file"),
    "single .npy array": (lambda p: (np.save(p / "a.npy", np.zeros(3)), p / "a.npy")[1], {}, "single array"),
    "wrong keys": (lambda p: _npz(p, x_test=None, X_test=np.zeros((8, 4, 4, 1), np.float32)), {},
                   r"lacks keys \['x_test'\]"),
    "string pixels": (lambda p: _npz(p, x_train=np.full((40, 4, 4, 1), "0.5")), {},
                      "x_train has dtype <U3; expected numeric images"),
    "string labels": (lambda p: _npz(p, y_train=np.array(["cat"] * 40)), {},
                      "y_train has dtype <U3; expected integer labels"),
    "NaN pixels": (_nan, {}, "NaN/inf pixels, first at index 5"),
    "negative label": (lambda p: _npz(p, y_train=np.r_[np.arange(39) % 4, -1]), {}, r"label\(s\) outside \[0, 4\)"),
    "stray label, classes inferred": (lambda p: _npz(p, y_test=np.r_[np.arange(7) % 4, 12]), {},
                                      r"labels go up to 12 but classes \[4, 5, 6, 7, 8, 9, 10, 11, 12\] have no training examples"),
    "label >= C declared by the file": (lambda p: _npz(p, num_classes=np.array(4), y_test=np.r_[np.arange(7) % 4, 4]),
                                        {}, r"label\(s\) outside \[0, 4\), e\.g\. \[4\]"),
    "label >= C set by the parameters": (lambda p: _npz(p, y_test=np.r_[np.arange(7) % 4, 12]), {"num_classes": 4},
                                         r"label\(s\) outside \[0, 4\), e\.g\. \[12\]"),
    "non-integer num_classes in the file": (lambda p: _npz(p, num_classes=np.array(4.5)), {},
                                            "num_classes must be an integer scalar"),
}


@pytest.mark.parametrize("case", sorted(NPZ))
def test_hostile_npz_files(case, tmp_path):
    make, params, message = NPZ[case]
    path = make(tmp_path)
    before = path.read_bytes()
    with pytest.raises(DataError, match=message):
        load_dataset({"name": "npz", "path": str(path), "labels_per_class": 2, **params}, 0)
    assert path.read_bytes() == before  # nothing written to it


# === IDX files ===
def _idx(folder, stem, arr, *, cut=None, gz=False):
    arr = np.asarray(arr, np.uint8)
    raw = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape) + arr.tobytes()
    raw = raw[:cut] if isinstance(cut, int) else raw
    if gz:
        raw = gzip.compress(raw)
        raw = raw[: len(raw) - 10] if cut == "gz" else raw
        (folder / f"{stem}.gz").write_bytes(raw)
    else:
        (folder / stem).write_bytes(raw)


def _idx_folder(tmp_path, cut_file=None, cut=None, gz=False, y_train=None):
    rng = np.random.default_rng(0)
    files = {"train-images-idx3-ubyte": rng.integers(0, 255, (30, 4, 4)),
             "train-labels-idx1-ubyte": np.arange(30) % 3 if y_train is None else y_train,
             "t10k-images-idx3-ubyte": rng.integers(0, 255, (6, 4, 4)),
             "t10k-labels-idx1-ubyte": np.arange(6) % 3}
    for stem, arr in files.items():
        _idx(tmp_path, stem, arr, cut=cut if stem == cut_file else None, gz=gz and stem == cut_file)
    return tmp_path


IDX = {
    "header cut inside the shape": (lambda p: _idx_folder(p, "train-images-idx3-ubyte", cut=9),
                                    r"truncated IDX header: 3 dimensions need 16 bytes, the file has 9"),
    "header of 3 bytes": (lambda p: _idx_folder(p, "t10k-labels-idx1-ubyte", cut=3), "too short to be an IDX file"),
    "body cut": (lambda p: _idx_folder(p, "train-images-idx3-ubyte", cut=16 + 100),
                 r"header says shape \(30, 4, 4\) \(480 bytes of data\) but the file holds 100 bytes"),
    "truncated gzip": (lambda p: _idx_folder(p, "train-labels-idx1-ubyte", cut="gz", gz=True), "unreadable"),
    "stray label 12 in 3-class data": (lambda p: _idx_folder(p, y_train=np.r_[np.arange(29) % 3, 12]),
                                       r"labels go up to 12 but classes \[3, 4, 5, 6, 7, 8, 9, 10, 11\]"),
}


@pytest.mark.parametrize("case", sorted(IDX))
def test_hostile_idx_files(case, tmp_path):
    make, message = IDX[case]
    with pytest.raises(DataError, match=message):
        load_dataset({"name": "idx", "path": str(make(tmp_path)), "labels_per_class": 2}, 0)


def test_idx_stray_label_with_num_classes_names_the_label(tmp_path):
    folder = _idx_folder(tmp_path, y_train=np.r_[np.arange(29) % 3, 12])
    with pytest.raises(DataError, match=r"label\(s\) outside \[0, 3\), e\.g\. \[12\] at index 29"):
        load_dataset({"name": "idx", "path": str(folder), "labels_per_class": 2, "num_classes": 3}, 0)


# === checkpoint files ===
def _fit(split, directory, epochs=2):
    training.set_global_seed(0)
    net = models.build_backbone("small_cnn", split.input_shape, 10, filters=[4], dense_units=8, dropout=0.0)
    model = methods.SupervisedClassifier(net)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    stream = data.ssl_stream(split.x_labeled, split.y_labeled, batch_labeled=10, seed=0)
    return training.fit_model(model, stream, epochs=epochs, steps_per_epoch=2, verbose=0, checkpoint_dir=directory)


def _zip_with_meta(meta_bytes):
    def write(path):
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("meta.npy", meta_bytes)
    return write


CHECKPOINTS = {
    "truncated state.npz": lambda path: path.write_bytes(path.read_bytes()[:300]),
    "garbage bytes": lambda path: path.write_bytes(b"\x00garbage" * 50),
    "empty file": lambda path: path.write_bytes(b""),
    "metadata not JSON": lambda path: np.savez(path, v00000=np.zeros(3), meta=np.array("{not json")),
    "metadata a JSON list": lambda path: np.savez(path, v00000=np.zeros(3), meta=np.array("[1, 2]")),
    "metadata member garbage": _zip_with_meta(b"\x93NUMPY\x01\x00garbage"),
    "variables cut off (metadata intact)": None,  # filled in the test: the right meta, too few variables
}


@pytest.mark.parametrize("case", sorted(CHECKPOINTS))
def test_hostile_checkpoint_files_are_ignored_with_a_warning(case, tmp_path, caplog):
    split = data.split_labeled_unlabeled(data.load_dataset("digits"), labels_per_class=2, seed=0)
    folder = tmp_path / "ckpt"
    _fit(split, folder, epochs=1)  # a real, incomplete-looking checkpoint of another length
    state = folder / ckpt.STATE_FILE
    if CHECKPOINTS[case] is None:
        meta = ckpt.read_meta(folder)
        meta["complete"] = False
        np.savez(state, v00000=np.zeros(3), meta=np.array(json.dumps({**meta, "epoch": 1})))
    else:
        CHECKPOINTS[case](state)
    with caplog.at_level(logging.WARNING, logger="ssl_pipelines"):
        history = _fit(split, folder, epochs=1)
    assert len(history["loss"]) == 1  # trained from scratch
    assert any(w in r.getMessage() for r in caplog.records
               for w in ("unreadable", "another configuration", "not resuming")), [r.getMessage() for r in caplog.records]
    assert ckpt.read_meta(folder)["complete"]  # and a valid checkpoint replaced the bad one


# === the MLflow store ===
def _truncate_db(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


DBS = {
    "truncated mlflow.db": (_truncate_db, r"it is truncated \(\d+ bytes; its header says \d+ pages"),
    "garbage mlflow.db": (lambda path: path.write_bytes(b"not a database" * 100),
                          r"it is not an SQLite database \(no SQLite header\)"),
}


@pytest.mark.parametrize("case", sorted(DBS))
def test_hostile_mlflow_store_stops_before_anything_runs(case, kedro_project):
    damage, message = DBS[case]
    db = kedro_project.project / "mlflow.db"
    damage(db)
    before = db.read_bytes()
    with pytest.raises(RuntimeError, match=rf"MLflow store .*mlflow\.db.* is unusable: {message}.*It was not modified"):
        kedro_project("supervised", params={"supervised": {"train": {"epochs": 1, "verbose": 0}}})
    assert db.read_bytes() == before
    assert not (kedro_project.project / "data/06_models/supervised").exists()  # nothing trained


# === the checkpoint folder: cleanup deletes only what the run wrote; one run per pipeline ===
ONE_EPOCH = {"supervised": {"train": {"epochs": 1, "steps_per_epoch": 2, "verbose": 0}}}


def test_checkpoint_dir_holding_the_models_is_refused_and_the_model_kept(kedro_project):
    """Old code: ``runtime.checkpoint_dir=data/06_models`` rmtree'd data/06_models/supervised, the
    trained model included, at the end of every successful run."""
    params = {**ONE_EPOCH, "runtime": {"checkpoint_dir": "data/06_models"}}
    project, uri = kedro_project("supervised", params=params)  # a fresh project: nothing to refuse yet
    model = project / "data/06_models/supervised/trained_model.keras"
    assert model.exists()  # cleanup deleted the checkpoints only (old code: the model too)
    assert not list((project / "data/06_models/supervised").rglob(ckpt.STATE_FILE))
    good = model.read_bytes()
    with pytest.raises(ConfigError, match=r"data/06_models/supervised' holds files that are not checkpoints "
                                          r"\(.*trained_model\.keras"):
        kedro_project("supervised", params=params)
    assert model.read_bytes() == good
    assert list(mlflow_runs(uri)["status"]) == ["FINISHED"]  # the refused run opened no run


def test_cleanup_keeps_a_users_file_in_the_checkpoint_tree(kedro_project, tmp_path):
    tree = kedro_project.project / "data/06_models/checkpoints/supervised"
    kedro_project("supervised", params=ONE_EPOCH)
    assert not tree.exists()  # a successful run leaves nothing
    # a user's file planted in a stage folder that is not marked as ours is never deleted
    ckpt.save_state  # noqa: B018 (documentation: the marked folders are the ones save_state wrote)
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    ckpt.mark(other)
    assert not ckpt.is_marked(other)
    ckpt.clear(other)
    assert (other / "notes.txt").read_text() == "keep me"
    assert ckpt.remove_tree(other) == [other / "notes.txt"]


def test_second_run_of_the_same_pipeline_stops_at_once_naming_the_lock(kedro_project):
    tree = kedro_project.project / "data/06_models/checkpoints/supervised"
    tree.mkdir(parents=True)
    with open(tree / ".lock", "a+") as held:  # another run of the pipeline holds it
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("4242\n")
        held.flush()
        with pytest.raises(RuntimeError, match=r"another run of pipeline 'supervised' is in progress "
                                               r"\(lock .*supervised/\.lock held by process 4242\)"):
            kedro_project("supervised", params=ONE_EPOCH)
    assert mlflow_runs(kedro_project.uri).empty  # stopped before opening an MLflow run
    assert not (kedro_project.project / "data/06_models/supervised").exists()
    kedro_project("supervised", params=ONE_EPOCH)  # the lock released: runs
    assert list(mlflow_runs(kedro_project.uri)["status"]) == ["FINISHED"]

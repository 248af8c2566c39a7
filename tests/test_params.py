"""The parameter layer (ssl_pipelines.params): the typed reader against hand-written messages, every
pipeline's conf checked in one call, bad values of every family rejected before anything runs, and
no global side effects while checking."""

from __future__ import annotations

import numpy as np
import pytest
from tensorflow.python.framework import config as tf_config  # is_op_determinism_enabled: no public getter in TF 2.x
from kedro.config import OmegaConfigLoader

from conftest import REPO
from ssl_pipelines.data import ConfigError
from ssl_pipelines.params import SCHEMAS, Section, check_pipeline, parse_train

PIPELINES = sorted(SCHEMAS)


def conf_params(env: str = "base") -> dict:
    return OmegaConfigLoader(str(REPO / "conf"), base_env="base", default_run_env=env,
                             merge_strategy={"parameters": "soft"})["parameters"]


def with_override(params: dict, path: str, value) -> dict:
    """A deep copy of ``params`` with ``path`` (dotted) set to ``value``."""
    import copy

    out = copy.deepcopy(params)
    node = out
    *parents, last = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return out


# === The reader ===
@pytest.mark.parametrize("call, message", [
    (lambda s: s.int("n", 1), "sec.n must be a positive integer, got 'abc'"),
    (lambda s: s.int("n", 1, minimum=0), "sec.n must be a non-negative integer, got 'abc'"),
    (lambda s: s.number("n", 1.0), "sec.n must be a non-negative number, got 'abc'"),
    (lambda s: s.number("n", 1.0, low_open=True), "sec.n must be a positive number, got 'abc'"),
    (lambda s: s.number("n", 1.0, 0.0, 1.0, high_open=True), "sec.n must be a number in [0, 1), got 'abc'"),
    (lambda s: s.flag("n", True), "sec.n must be true or false, got 'abc'"),
    (lambda s: s.choice("n", "a", ["a", "b"]), "sec.n must be one of ['a', 'b'], got 'abc'"),
    (lambda s: s.ints("n", [1]), "sec.n must be a list of positive integers, got 'abc'"),
])
def test_reader_messages_name_key_value_and_expectation(call, message):
    with pytest.raises(ConfigError) as err:
        call(Section("sec", {"n": "abc"}, {"n"}))
    assert str(err.value) == message


def test_reader_rejects_bools_nans_floats_for_ints_and_unknown_keys():
    s = Section("train", {"epochs": True, "lr": float("nan"), "steps": 1e9, "ok": 3}, {"epochs", "lr", "steps", "ok"})
    for call in (lambda: s.int("epochs", 1), lambda: s.number("lr", 0.1), lambda: s.int("steps", 1)):
        with pytest.raises(ConfigError):
            call()
    assert s.int("ok", 1) == 3 and s.int("missing", 7) == 7
    with pytest.raises(ConfigError, match=r"unknown train parameter\(s\) \['epoch'\]; allowed: \['batch_size'\]"):
        Section("train", {"epoch": 3}, {"batch_size"})
    with pytest.raises(ConfigError, match="train must be a mapping of parameters, got 3"):
        Section("train", 3, {"batch_size"})


def test_null_reads_as_the_default_unless_the_key_means_off():
    s = Section("model", {"kernel_init_std": None, "latent_dim": None}, {"kernel_init_std", "latent_dim"})
    assert s.int("latent_dim", 50) == 50 and s.is_null("kernel_init_std") and not s.is_null("latent_dim2")


def test_train_section_resolves_defaults_and_one_augment_meaning():
    train, _ = parse_train({"epochs": 3, "augment": {"max_shift": 2}, "batch_unlabeled": None}, 5, "d2",
                           defaults={"batch_labeled": 16, "batch_unlabeled": 48})
    assert (train.epochs, train.batch_labeled, train.batch_unlabeled, train.seed) == (3, 16, 48, 5)
    assert train.augment.as_dict() == {"max_shift": 2, "flip": False} and train.key("epochs") == "d2.epochs"
    assert parse_train({}, 0)[0].augment.as_dict() is None  # no augmentation unless asked
    with pytest.raises(ConfigError, match=r"unknown optimizer 'adamx'"):
        parse_train({"optimizer": {"name": "adamx"}}, 0)


# === Whole pipelines ===
@pytest.mark.parametrize("env", ["base", "paper"])
@pytest.mark.parametrize("name", PIPELINES)
def test_every_pipeline_env_passes_the_check(name, env):
    resolved = check_pipeline(name, conf_params(env)[name])
    assert set(resolved) == {"seed", "data", "evaluation", *SCHEMAS[name]}
    import json

    json.dumps(resolved)  # the resolved_parameters artifact is plain JSON


def test_checking_has_no_global_side_effects():
    """Checking a stage never reseeds the global RNGs nor switches on op determinism (it did:
    validating R2-D2's stage 2 reseeded the process and could enable determinism)."""
    params = with_override(conf_params()["r2d2"], "d2.deterministic", True)
    # an earlier deterministic training in the same pytest worker may have left determinism on
    # (the order depends on the xdist workers): start from off, restore what was found
    was_on = tf_config.is_op_determinism_enabled()
    tf_config.disable_op_determinism()  # no public tf.config counterpart of enable_op_determinism
    try:
        np.random.seed(123)
        expected = np.random.default_rng(0).random()  # reference draw
        state = np.random.get_state()[1].copy()
        check_pipeline("r2d2", params)
        assert np.array_equal(np.random.get_state()[1], state)
        assert not tf_config.is_op_determinism_enabled()
        assert expected == np.random.default_rng(0).random()
    finally:
        if was_on:
            tf_config.enable_op_determinism()


# Method parameters rejected by the check, before any data loads: (path, value, error text).
BAD_METHOD_PARAMS: dict[str, list[tuple[str, object, str]]] = {
    "supervised": [("train.optimizer", {"name": "adamx"}, "unknown optimizer 'adamx'"),
                   ("model.backbone", None, "model.backbone must be the name of a registered backbone")],
    "m1": [("pretrain.batch_size", 0, "pretrain.batch_size must be a positive integer, got 0"),
           ("model.kl_weight", 0, "model.kl_weight must be a number in (0, 1], got 0"),
           ("transduction.neighbors", -1, "transduction.neighbors must be a non-negative integer, got -1"),
           ("transduction.alpha", 1.0, "transduction.alpha must be a number in (0, 1), got 1.0")],
    "m2": [("model.alpha", -1.0, "model.alpha must be a non-negative number, got -1.0")],
    "m1_m2": [("stack.active_threshold", -0.5, "stack.active_threshold must be a non-negative number, got -0.5")],
    "inversion": [("model.alhpa", 0.5, "unknown model parameter(s) ['alhpa']")],
    "swwae_vgg": [("model.variant", "middle", "model.variant must be one of"),
                  ("model.unpooling", "bilinear", "model.unpooling must be one of")],
    "hybridnet": [("loss.balanced", "yes", "loss.balanced must be true or false, got 'yes'"),
                  ("train.lr_decay_start", 1.5, "lr_decay_start must be null (constant learning rate) or a "
                                                "fraction in [0, 1)")],
    "mean_teacher": [("loss.ema_decay", 1.5, "loss.ema_decay must be a number in [0, 1), got 1.5"),
                     ("loss.stability_weight", 1.0, "unknown loss parameter(s) ['stability_weight']")],
    "r2d2": [("d2.repredict_at", [99], "d2.repredict_at must be distinct epochs"),
             ("d2.alpha", -1.0, "d2.alpha must be a positive number, got -1.0"),
             ("finetune.repredict", "yes", "finetune.repredict must be true or false, got 'yes'"),
             ("d2.lr_decay_start", 0.6, "d2.lr_decay_start must be null: R2-D2's stage 2")],
}


@pytest.mark.parametrize("name, path, value, message", [
    (name, path, value, message) for name, cases in BAD_METHOD_PARAMS.items() for path, value, message in cases])
def test_bad_method_parameters_are_named(name, path, value, message):
    with pytest.raises(ConfigError) as err:
        check_pipeline(name, with_override(conf_params()[name], path, value))
    assert message in str(err.value)


def _train_section(name: str) -> str:
    return {"r2d2": "finetune", "swwae_vgg": "finetune"}.get(name, "train")


# Wrong-typed `--params` values as Kedro hands them over (strings stay strings, "1e9" is a float).
@pytest.mark.parametrize("key, value, expected", [
    ("epochs", "abc", "must be a positive integer, got 'abc'"),
    ("epochs", 1e9, "must be a positive integer, got 1000000000.0"),
    ("epochs", 0, "must be a positive integer, got 0"),
    ("steps_per_epoch", -3, "must be a positive integer, got -3"),
    ("jit_compile", "no", "must be true or false, got 'no'"),
])
@pytest.mark.parametrize("name", PIPELINES)
def test_wrong_typed_train_values_fail_in_the_check(name, key, value, expected):
    section = _train_section(name)
    with pytest.raises(ConfigError) as err:
        check_pipeline(name, with_override(conf_params()[name], f"{section}.{key}", value))
    assert f"{section}.{key} {expected}" in str(err.value)


@pytest.mark.parametrize("value, expected", [(-1, "must be a positive integer, got -1"),
                                             ("32", "must be a positive integer, got '32'")])
def test_wrong_typed_batch_sizes_fail_in_the_check(value, expected):
    for name, key in (("supervised", "train.batch_size"), ("m2", "train.batch_labeled"),
                      ("hybridnet", "train.batch_labeled"), ("r2d2", "d2.batch_labeled")):
        with pytest.raises(ConfigError, match=f"{key} {expected}"):
            check_pipeline(name, with_override(conf_params()[name], key, value))


@pytest.mark.parametrize("seed", [-1, "0", 1.5, True])
def test_bad_seed_is_rejected(seed):
    with pytest.raises(ConfigError, match="seed must be a non-negative integer"):
        check_pipeline("supervised", {**conf_params()["supervised"], "seed": seed})


@pytest.mark.parametrize("data, message", [
    ({"name": "digits"}, r"data.streaming: true supports data.name in \['image_folder'\], got 'digits'"),
    ({"normalization": "standardize"}, r"data.normalization must be 'unit', got 'standardize'"),
    ({"max_train": 100}, r"data.max_train is not supported with data.streaming: true"),
    ({"resize": None}, r"data.streaming: true needs data.resize"),
])
def test_streaming_constraints_are_checked_with_the_other_parameters(tmp_path, data, message):
    """The check node (no loading: the folder does not even exist) rejects a streamed folder's
    impossible settings, for any pipeline."""
    good = {"name": "image_folder", "path": str(tmp_path / "missing"), "streaming": True, "resize": [16, 16]}
    check_pipeline("m2", {"seed": 0, "data": good})  # the folder's existence is checked when it is indexed
    with pytest.raises(ConfigError, match=message):
        check_pipeline("m2", {"seed": 0, "data": {**good, **data}})


def test_a_null_backbone_kwarg_means_the_builders_default():
    """Kedro merges --params into the configured backbone_kwargs, so switching backbone from the command
    line sets the old backbone's keys to null: they are left out of the builder's arguments."""
    from ssl_pipelines.params.data import parse_backbone

    backbone, _ = parse_backbone({"backbone": "hybrid_convlarge",
                                  "backbone_kwargs": {"filters": None, "dense_units": None, "top": [64]}})
    assert backbone.name == "hybrid_convlarge" and backbone.kwargs == {"top": [64]}


def test_parameter_reference_page_is_what_its_generator_writes():
    """docs/parameters.md is written from the parameter schemas; a new key, default or docstring
    changes it, so the committed page must be regenerated with
    ``python -m ssl_pipelines.params.reference --write docs/parameters.md``."""
    from ssl_pipelines.params.reference import render_reference

    assert (REPO / "docs" / "parameters.md").read_text() == render_reference(REPO), (
        "docs/parameters.md is stale: run `python -m ssl_pipelines.params.reference --write docs/parameters.md`")

"""The paper environments: ``conf/paper`` (and ``conf/paper_resnet``) hold only what differs from
``conf/base``; the project's config loader soft-merges them (settings.py). These tests check the
MERGED parameters, as ``kedro run --env=paper`` sees them: every section complete, and every
schedule value equal to a table written from METHODS.md (so a wrong value fails)."""

import pytest
import yaml

from conftest import REPO, load_parameters

PIPELINES = sorted(p.stem.removeprefix("parameters_") for p in (REPO / "conf/paper").glob("parameters_*.yml"))
ENVS = {"paper": PIPELINES, "paper_resnet": ["hybridnet"]}


@pytest.fixture(scope="module")
def merged():
    return {env: load_parameters(env) for env in ENVS}


def _keys(d, prefix=""):
    out = set()
    for k, v in d.items():
        out.add(f"{prefix}{k}")
        if isinstance(v, dict):
            out |= _keys(v, f"{prefix}{k}.")
    return out


def _get(d, dotted):
    for part in dotted.split("."):
        d = d[part]
    return d


@pytest.mark.parametrize("env, name", [(e, n) for e, names in ENVS.items() for n in names])
def test_merged_paper_section_is_complete(merged, env, name):
    base = yaml.safe_load((REPO / f"conf/base/parameters_{name}.yml").read_text())[name]
    paper = merged[env][name]
    nulled = {k for k in _keys(paper) if _get(paper, k) is None}  # e.g. `augment: null` switches a block off
    missing = sorted(k for k in _keys(base) - _keys(paper) if not any(k.startswith(f"{n}.") for n in nulled))
    assert not missing, f"{env} {name} lacks {missing} after the merge"
    assert paper["data"].get("name") != "digits", "the paper protocol runs on the paper's data set"
    env_file = yaml.safe_load((REPO / f"conf/{env}/parameters_{name}.yml").read_text())[name]
    assert "seed" not in env_file and len(_keys(env_file)) < len(_keys(base)), \
        f"conf/{env}/parameters_{name}.yml should hold only what differs from conf/base"


def test_every_pipeline_has_a_paper_env():
    pipelines = sorted(p.name for p in (REPO / "src/ssl_pipelines/pipelines").iterdir()
                       if (p / "pipeline.py").exists())
    assert set(pipelines) <= set(PIPELINES), sorted(set(pipelines) - set(PIPELINES))


def test_soft_merge_is_the_project_setting():
    from ssl_pipelines.settings import CONFIG_LOADER_ARGS

    assert CONFIG_LOADER_ARGS["merge_strategy"] == {"parameters": "soft"}


# (env, pipeline, dotted key, value, where in METHODS.md). Written from METHODS.md, not from conf/.
WD = 2e-4
SCHEDULE = [
    # HybridNet ConvLarge ablation, §1.3 [paper]: Adam 0.003, 600 epochs, 20 + 80, every lambda 1, lambda_s 100
    ("paper", "hybridnet", "train.optimizer.name", "adam", "§1.3 ConvLarge"),
    ("paper", "hybridnet", "train.optimizer.learning_rate", 0.003, "§1.3 ConvLarge"),
    ("paper", "hybridnet", "train.lr_decay_start", None, "§1.3 ConvLarge (no schedule stated)"),
    ("paper", "hybridnet", "train.epochs", 600, "§1.3 ConvLarge"),
    ("paper", "hybridnet", "train.batch_labeled", 20, "§1.3 ConvLarge"),
    ("paper", "hybridnet", "train.batch_unlabeled", 80, "§1.3 ConvLarge"),
    ("paper", "hybridnet", "loss.lambda_cls", 1.0, "§1.3 every lambda 1"),
    ("paper", "hybridnet", "loss.lambda_rec", 1.0, "§1.3 every lambda 1"),
    ("paper", "hybridnet", "loss.lambda_inter", 1.0, "§1.3 every lambda 1"),
    ("paper", "hybridnet", "loss.lambda_stab", 100.0, "§1.3 lambda_s = 100"),
    ("paper", "hybridnet", "loss.rec_rampup_epochs", 0, "§1.3 constant lambdas"),
    ("paper", "hybridnet", "loss.inter_rampup_epochs", 0, "§1.3 constant lambdas"),
    ("paper", "hybridnet", "loss.rampdown_epochs", 0, "§1.3 constant lambdas (no decay)"),
    ("paper", "hybridnet", "loss.ema_decay", 0.97, "§1.2 a = min(1 - 1/(step+1), 0.97)"),
    ("paper", "hybridnet", "loss.stab_rampup_epochs", 5, "§1.3 released code (deviation: not in the paper)"),
    ("paper", "hybridnet", "data.labels_per_class", 400, "§1.4 Table 1, 4000 labels"),
    # HybridNet ResNet, the released experiments.yml, §1.3 [code]
    ("paper_resnet", "hybridnet", "train.optimizer.name", "sgd", "§1.3 experiments.yml"),
    ("paper_resnet", "hybridnet", "train.optimizer.nesterov", True, "§1.3 experiments.yml"),
    ("paper_resnet", "hybridnet", "train.optimizer.momentum", 0.9, "§1.3 experiments.yml"),
    ("paper_resnet", "hybridnet", "train.optimizer.coupled_weight_decay", WD, "§1.3 (PyTorch weight decay)"),
    ("paper_resnet", "hybridnet", "train.optimizer.learning_rate", 0.003, "§1.3 effective lr"),
    ("paper_resnet", "hybridnet", "train.lr_decay_start", 0.6, "§1.3 constant to epoch 180 of 300"),
    ("paper_resnet", "hybridnet", "train.epochs", 300, "§1.3"),
    ("paper_resnet", "hybridnet", "train.batch_labeled", 19, "§1.3 batch 80, 19 labeled"),
    ("paper_resnet", "hybridnet", "train.batch_unlabeled", 61, "§1.3 batch 80, 19 labeled"),
    ("paper_resnet", "hybridnet", "loss.lambda_rec", 0.25, "§1.3"),
    ("paper_resnet", "hybridnet", "loss.lambda_inter", 0.5, "§1.3"),
    ("paper_resnet", "hybridnet", "loss.lambda_stab", 100.0, "§1.3"),
    ("paper_resnet", "hybridnet", "loss.ema_decay", 0.97, "§1.3"),
    ("paper_resnet", "hybridnet", "loss.stab_rampup_epochs", 5, "§1.3"),
    ("paper_resnet", "hybridnet", "loss.rec_rampup_epochs", 5, "§1.3"),
    ("paper_resnet", "hybridnet", "loss.inter_rampup_epochs", 2, "§1.3"),
    ("paper_resnet", "hybridnet", "loss.rampdown_epochs", None, "§1.3 cosine decay to 0 at the last epoch"),
    # Mean Teacher = HybridNet Table 1 "classification + stability", §1.3-1.4
    ("paper", "mean_teacher", "train.optimizer.learning_rate", 0.003, "§1.3 ConvLarge"),
    ("paper", "mean_teacher", "train.epochs", 600, "§1.3 ConvLarge"),
    ("paper", "mean_teacher", "train.batch_labeled", 20, "§1.3 ConvLarge"),
    ("paper", "mean_teacher", "train.batch_unlabeled", 80, "§1.3 ConvLarge"),
    ("paper", "mean_teacher", "loss.lambda_stab", 100.0, "§1.3"),
    ("paper", "mean_teacher", "loss.stab_rampup_epochs", 5, "§1.3 released code"),
    ("paper", "mean_teacher", "loss.ema_decay", 0.97, "§1.2"),
    # R2-D2, §4.2-4.3 [code], per GPU (ngpu = 4 divided out)
    ("paper", "r2d2", "data.labels_per_class", 400, "§4.4"),
    ("paper", "r2d2", "supervised.epochs", 300, "§4.3 stage 1"),
    ("paper", "r2d2", "supervised.batch_size", 40, "§4.3 stage 1"),
    ("paper", "r2d2", "supervised.optimizer.learning_rate", 0.05, "§4.3 stage 1"),
    ("paper", "r2d2", "supervised.optimizer.momentum", 0.9, "§4.3 stage 1"),
    ("paper", "r2d2", "supervised.optimizer.nesterov", True, "§4.3 stage 1"),
    ("paper", "r2d2", "supervised.optimizer.coupled_weight_decay", WD, "§4.3 stage 1 (PyTorch)"),
    ("paper", "r2d2", "d2.epochs", 600, "§4.3 stage 2"),
    ("paper", "r2d2", "d2.batch_labeled", 32, "§4.3 stage 2"),
    ("paper", "r2d2", "d2.batch_unlabeled", 96, "§4.3 stage 2"),
    ("paper", "r2d2", "d2.optimizer.learning_rate", 0.03, "§4.3 stage 2"),
    ("paper", "r2d2", "d2.optimizer.nesterov", True, "§4.3 stage 2"),
    ("paper", "r2d2", "d2.optimizer.coupled_weight_decay", WD, "§4.3 stage 2 (PyTorch)"),
    ("paper", "r2d2", "d2.repredict_at", [300, 375, 450, 525], "§4.3 stage 2"),
    ("paper", "r2d2", "d2.lr_schedule", [[375, 0.02], [450, 0.01], [525, 0.001]], "§4.3 lr table / 4"),
    ("paper", "r2d2", "d2.alpha", 0.1, "§4.2"),
    ("paper", "r2d2", "d2.beta", 0.03, "§4.2"),
    ("paper", "r2d2", "d2.label_lr", 4000, "§4.2"),
    ("paper", "r2d2", "d2.label_lr_reference_batch_size", 512, "§4.2 B = 4 x 128"),
    ("paper", "r2d2", "d2.labeled_logit_scale", 10, "§4.1"),
    ("paper", "r2d2", "finetune.epochs", 50, "§4.3 stage 3"),
    ("paper", "r2d2", "finetune.batch_size", 128, "§4.3 stage 3"),
    ("paper", "r2d2", "finetune.optimizer.learning_rate", 0.0025, "§4.3 stage 3"),
    ("paper", "r2d2", "finetune.optimizer.coupled_weight_decay", WD, "§4.3 stage 3 (PyTorch)"),
    # Zhang et al., §3.2 [code] and §3.4
    ("paper", "swwae_vgg", "finetune.loss.reduction", "sum", "§3.2 Caffe EuclideanLoss"),
    ("paper", "swwae_vgg", "finetune.loss.classification_weight", 1.0, "§3.2"),
    ("paper", "swwae_vgg", "finetune.loss.weights", {"image": 1e-4, "pool4": 1e-10, "pool3": 1e-12,
                                                     "pool2": 1e-12, "pool1": 1e-12}, "§3.2"),
    ("paper", "swwae_vgg", "decoder_layerwise.loss", {"reduction": "sum", "weight": 1.0}, "§3.2 pre-training"),
    ("paper", "swwae_vgg", "decoder_chained.loss", {"reduction": "sum", "weight": 1.0}, "§3.2 pre-training"),
    ("paper", "swwae_vgg", "data.shorter_side", 256, "§3.4"),
    ("paper", "swwae_vgg", "data.resize", [224, 224], "§3.4"),
    ("paper", "swwae_vgg", "model.decoder_init_stddev", 0.001, "§3.1"),
    ("paper", "swwae_vgg", "model.fixed_position", [1, 1], "§3.1 Caffe FIX default"),
    # Kingma et al., §5.1-5.2 [code]
    ("paper", "m1", "model.hidden_units", [500, 500], "§5.1 run_gpulearn_z_x.py"),
    ("paper", "m1", "model.latent_dim", 50, "§5.1"),
    ("paper", "m1", "model.kernel_init_std", 0.001, "§5.1"),
    ("paper", "m1", "model.binarize", True, "§5.1 dynamic binarization"),
    ("paper", "m1", "pretrain.batch_size", 1000, "§5.1"),
    ("paper", "m1", "pretrain.optimizer.learning_rate", 0.0003, "§5.1"),
    ("paper", "m1", "model.kl_warmup_steps", 0, "§5.1 the ELBO (Eq. 5)"),
    ("paper", "m1", "model.kl_weight", 1.0, "§5.1 the ELBO (Eq. 5)"),
    ("paper", "m1", "transduction.neighbors", 0, "§5.1 a classifier on the labeled latents"),
    ("paper", "m2", "model.latent_dim", 50, "§5.2"),
    ("paper", "m2", "model.kernel_init_std", 0.001, "§5.2"),
    ("paper", "m2", "model.binarize", True, "§5.1, §5.6 dynamic binarization"),
    ("paper", "m2", "model.alpha", 0.1, "§5.1-5.2"),
    ("paper", "m2", "train.epochs", 3000, "§5.2"),
    ("paper", "m2", "train.steps_per_epoch", 100, "§5.2"),
    ("paper", "m2", "train.batch_labeled", 1, "§5.2"),
    ("paper", "m2", "train.batch_unlabeled", 499, "§5.2"),
    ("paper", "m2", "train.optimizer.learning_rate", 0.0003, "§5.2"),
    ("paper", "m2", "train.optimizer.beta_1", 0.9, "§5.2"),
    ("paper", "m2", "train.optimizer.beta_2", 0.999, "§5.2"),
    ("paper", "m1_m2", "m1.binarize", True, "§5.1 dynamic binarization"),
    ("paper", "m1_m2", "m2.hidden_units", [300], "§5.2 N = 100"),
    ("paper", "m1_m2", "m2.latent_dim", 50, "§5.2"),
    ("paper", "m1_m2", "m2.alpha", 0.1, "§5.2"),
    ("paper", "m1_m2", "m2.likelihood", "gaussian", "§5.1 Gaussian p(z1|y,z2)"),
    ("paper", "m1_m2", "stack.active_threshold", 0.1, "§5.1"),
    ("paper", "m1_m2", "stack.active_sample", 1000, "§5.1"),
    ("paper", "m1_m2", "stack.sample_latents", True, "§5.1 z1 resampled every minibatch"),
    ("paper", "m1_m2", "m1.binarize", True, "§5.1 dynamic binarization"),
    ("paper", "m1_m2", "m1.kl_warmup_steps", 0, "§5.1 the ELBO (Eq. 5)"),
    ("paper", "m1_m2", "m1.kl_weight", 1.0, "§5.1 the ELBO (Eq. 5)"),
    ("paper", "m1_m2", "train.epochs", 3000, "§5.2"),
    ("paper", "m1_m2", "train.steps_per_epoch", 100, "§5.2"),
    ("paper", "m1_m2", "train.batch_labeled", 1, "§5.2"),
    ("paper", "m1_m2", "train.batch_unlabeled", 499, "§5.2"),
    ("paper", "m1_m2", "train.optimizer.learning_rate", 0.0003, "§5.2"),
    ("paper", "m1_m2", "pretrain.batch_size", 1000, "§5.1"),
    # inversion, §2.3-2.4 [source]
    ("paper", "inversion", "train.optimizer.learning_rate", pytest.approx(0.01 / 3, rel=1e-4), "§2.3 Adam 0.01/3"),
    ("paper", "inversion", "model.alpha", 0.3, "§2.3 Resnet2-32"),
    ("paper", "inversion", "model.beta", 0.5, "§2.3 Resnet2-32"),
    ("paper", "inversion", "model.backbone", "inv_resnet2_32", "§2.4 headline"),
    ("paper", "inversion", "model.backbone_kwargs.pooling", "max", "§2.4 headline"),
    ("paper", "inversion", "data.labels_per_class", 5, "§2.4 N_L = 50"),
]


@pytest.mark.parametrize("env, name, key, value, where", SCHEDULE, ids=[f"{e}:{n}.{k}" for e, n, k, *_ in SCHEDULE])
def test_paper_schedule_matches_methods_md(merged, env, name, key, value, where):
    node = merged[env][name]
    for part in key.split("."):
        assert part in node, f"{env} {name}.{key} missing (METHODS.md {where})"
        node = node[part]
    assert node == value, f"{env} {name}.{key} = {node!r}, METHODS.md {where} says {value!r}"


# === Where the paper envs read their data: one variable, SSL_PIPELINES_SHARED_DATA ===
def _values(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _values(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


#: the sections that read a data set from the shared data folder (the others: tensorflow-datasets,
#: or swwae_vgg's ImageNet under the project's data/01_raw)
SHARED_DATA_SECTIONS = ["inversion", "m1", "m1_m2", "m2"]


def test_paper_data_folder_comes_from_one_variable(monkeypatch, tmp_path):
    from ssl_pipelines.shared_data import DEFAULT, VARIABLE

    for path in [*(REPO / "conf/paper").glob("*.yml"), *(REPO / "conf/paper_resnet").glob("*.yml")]:
        raw = yaml.safe_load(path.read_text())
        hard = [k for k, v in _values(raw) if isinstance(v, str) and "shared/data" in v]
        assert not hard, f"{path.name}: {hard} name the data folder itself; use ${{shared_data:<data set>}}"
    monkeypatch.delenv(VARIABLE, raising=False)
    default = load_parameters("paper")
    monkeypatch.setenv(VARIABLE, str(tmp_path / "elsewhere"))
    moved = load_parameters("paper")
    for name in SHARED_DATA_SECTIONS:
        assert default[name]["data"]["path"] == f"{DEFAULT}/mnist"
        assert moved[name]["data"]["path"] == str(tmp_path / "elsewhere" / "mnist")
    readers = sorted(n for n, p in default.items() if isinstance(p, dict) and str(p.get("data", {}).get("path", "")
                                                                                 ).startswith(DEFAULT))
    assert readers == SHARED_DATA_SECTIONS


@pytest.mark.parametrize("name", SHARED_DATA_SECTIONS)
def test_a_missing_paper_data_folder_fails_before_training_saying_what_to_put_where(name, kedro_project, monkeypatch,
                                                                                  tmp_path):
    """``kedro run --env=paper`` on a machine without the shared data folder: the run fails at
    ``load_dataset`` (before any training), naming the variable, the missing path and the files."""
    from conftest import mlflow_runs
    from ssl_pipelines.data import DataError
    from ssl_pipelines.shared_data import VARIABLE

    monkeypatch.setenv(VARIABLE, str(tmp_path / "no_data_here"))
    with pytest.raises(DataError) as err:
        kedro_project(name, env="paper")
    missing = tmp_path / "no_data_here" / "mnist"
    text = str(err.value)
    assert f"data source 'idx': path {str(missing)!r} does not exist" in text
    assert f"the environment variable {VARIABLE} sets (set to {str(tmp_path / 'no_data_here')!r})" in text
    assert f"{str(missing)!r} should hold MNIST: its four original IDX files, train-images-idx3-ubyte.gz" in text
    assert f"or export {VARIABLE}=<the folder that holds mnist/>" in text
    runs = mlflow_runs(kedro_project.uri)
    assert list(runs["status"]) == ["FAILED"]
    assert not [c for c in runs.columns if c.startswith("metrics.")], "training logged metrics"
    assert not list((kedro_project.project / "data/06_models").rglob("*.keras")), "a model was written"

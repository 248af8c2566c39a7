"""The benchmark drivers build sweeps the pipelines accept: each driver's ``--dry-run`` command is
planned (``plan_sweep``) on the project's parameters and every child's merged parameters pass the
pipelines' own checks (``check_parameters``), before anyone spends CPU-minutes on them. No
training; the drivers hold no training code (``model.fit``) of their own."""

from __future__ import annotations

import copy
import importlib.util
import re
import shlex

import pytest
from conftest import REPO, load_parameters

from ssl_pipelines import cli
from ssl_pipelines.params import SCHEMAS
from ssl_pipelines.params.pipelines import check_pipeline
from ssl_pipelines.reporting_sections import load_spec

DRIVERS = {  # driver, arguments -> (pipelines, children, RESULTS.md section)
    ("inversion", ()): (["inversion"], 12, "inversion_mnist"),
    ("hybridnet", ("--dataset", "mnist")): (["hybridnet"], 9, "hybridnet_mnist"),
    ("hybridnet", ("--dataset", "cifar10")): (["hybridnet"], 9, "hybridnet_cifar10"),
    ("r2d2", ()): (["r2d2"], 3, "r2d2_mnist"),
    ("r2d2", ("--dataset", "cifar10", "--configs", "a,e")): (["r2d2"], 6, "r2d2_cifar10"),
    ("supervised_mnist", ()): (["supervised"], 3, "supervised_mnist"),
    ("m1_m2", ()): (["supervised", "m2"], 6, "m2_mnist"),
    ("m1_m2", ("--table", "m1_m2", "--lr-decay-start", "0.5")): (["m1", "m1_m2"], 6, "m1_m2_mnist"),
    ("m1_m2", ("--table", "m2", "--lr-decay-start", "0.5", "--activation", "relu")): (["supervised", "m2"], 6,
                                                                                     "m2_mnist"),
    ("swwae_vgg", ()): (["swwae_vgg"], 9, "swwae_vgg_cifar10"),
    ("comparison", ()): (cli.available_pipelines(), 27, "comparison_digits"),  # 9 registered x 3 seeds
    # timing: 3 interleaved rounds of each configuration
    ("step_time", ("--preset", "hybridnet_cls_vs_supervised")): (["supervised", "hybridnet"], 6,
                                                                 "step_time_hybridnet_cls_vs_supervised"),
    ("step_time", ("--preset", "m2_issue_vs_relu_alpha10")): (["m2"], 6, "step_time_m2_issue_vs_relu_alpha10"),
    ("step_time", ("--preset", "swwae_vgg_arms")): (["swwae_vgg"], 9, "step_time_swwae_vgg_arms"),
    # float32 vs mixed_bfloat16: every method x 2 precisions x 3 rounds; parity: 3 seeds
    ("precision", ()): (["supervised", "inversion", "m1", "m2", "m1_m2", "hybridnet", "mean_teacher", "r2d2",
                         "swwae_vgg"], 54, "precision_speed"),
    ("precision", ("--part", "parity")): (["supervised", "inversion", "m1", "m2", "m1_m2", "hybridnet",
                                           "mean_teacher", "r2d2"], 48, "precision_parity_mnist"),
    ("precision", ("--part", "parity", "--methods", "swwae_vgg")): (["swwae_vgg"], 6, "precision_parity_cifar10"),
    # the claims: 2 arms x 2 label counts x 3 seeds; M1 x 3 seeds
    ("claims", ("--claim", "inversion")): (["inversion"], 12, "claim_inversion"),
    ("claims", ("--claim", "m1")): (["m1"], 3, "claim_m1"),
    ("claims", ("--claim", "m1_m2")): (["m1_m2"], 3, "claim_m1_m2"),
}
#: drivers whose parts keep separate stores (they may run side by side)
STORES = {("precision", ("--part", "parity")): "precision_parity",
          ("precision", ("--part", "parity", "--methods", "swwae_vgg")): "precision_parity",
          ("claims", ("--claim", "inversion")): "claim_inversion", ("claims", ("--claim", "m1")): "claim_m1",
          ("claims", ("--claim", "m1_m2")): "claim_m1_m2"}


def _driver(name: str, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))  # the drivers import benchmarks/common.py
    spec = importlib.util.spec_from_file_location(f"driver_{name}", REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _merged(params: dict, runtime: dict) -> dict:
    out = copy.deepcopy(params)

    def update(old, new):
        for k, v in new.items():
            if isinstance(old.get(k), dict) and isinstance(v, dict):
                update(old[k], v)
            else:
                old[k] = v

    update(out, runtime)
    return out


@pytest.fixture(scope="module")
def params():
    return load_parameters("base")


@pytest.mark.parametrize("driver, extra", list(DRIVERS))
def test_driver_sweep_is_planned_and_checked(driver, extra, params, capsys, monkeypatch):
    module = _driver(driver, monkeypatch)  # --dry-run: no CIFAR cache is decoded
    assert module.main(["--dry-run", *extra]) == 0
    argv = shlex.split(capsys.readouterr().out.strip().splitlines()[-1])
    assert argv[:2] == ["ssl-pipelines", "sweep"]
    ns = cli._build_parser().parse_args(argv[1:])
    pipelines, children, section = DRIVERS[(driver, extra)]
    assert ns.pipelines.split(",") == pipelines
    # each driver's sweeps go to its own committed store, benchmarks/stores/<driver>.db, and the command
    # (recorded as sweep.command, printed above the table) names no folder of this machine
    assert ns.tracking_uri == f"sqlite:///benchmarks/stores/{STORES.get((driver, extra), driver)}.db"
    assert ns.project_path == "."
    assert str(REPO) not in " ".join(argv) and str(REPO.parent) not in " ".join(argv)
    for key, value in cli.parse_params(ns.params).items():
        if key.endswith(".path"):
            assert not value.startswith("/"), (key, value)
    plan = cli.plan_sweep(pipelines, cli.parse_int_list(ns.seeds, "seeds"), cli.parse_int_list(ns.labels, "labels"),
                          params=params, known=sorted(SCHEMAS), overrides=cli.parse_params(ns.params),
                          variants=cli.parse_variants(ns.variants), epochs=ns.epochs)
    assert len(plan) == children
    if driver == "step_time" or (driver, extra) == ("precision", ()):  # rounds: seed 0 of each, then seed 1...
        assert ns.interleave
        plan = cli.plan_sweep(pipelines, cli.parse_int_list(ns.seeds, "seeds"), cli.parse_int_list(ns.labels, "labels"),
                              params=params, known=sorted(SCHEMAS), overrides=cli.parse_params(ns.params),
                              variants=cli.parse_variants(ns.variants), interleave=True)
        assert [c.seed for c in plan] == sorted(c.seed for c in plan)
    for child in plan:
        merged = _merged(params, child.runtime_params)
        assert merged["runtime"]["threads"] == 1
        check_pipeline(child.pipeline, merged[child.pipeline])  # raises ConfigError on a bad key or value
        if "--lr-decay-start" in extra and child.pipeline in ("m2", "m1_m2"):
            assert merged[child.pipeline]["train"]["lr_decay_start"] == 0.5
        if "relu" in extra:  # the floor is M2's classifier: same activation
            kwargs = merged[child.pipeline]["model"].get("backbone_kwargs") or merged[child.pipeline]["model"]
            assert kwargs["activation"] == "relu"
    assert section in load_spec(REPO / "benchmarks" / "results_sections.yml")
    assert load_spec(REPO / "benchmarks" / "results_sections.yml")[section].parent == ns.run_name


def test_no_driver_trains_by_itself():
    for path in (REPO / "benchmarks").glob("*.py"):
        assert not re.search(r"model\.fit|\.fit\(", path.read_text()), path.name

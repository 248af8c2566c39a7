"""The sweep's plan without running anything: which child runs, their runtime parameters, the
labeled batches fitted to a small label count (with the right key per pipeline), the parent's
tags; and the results side: budgets that differ are refused, the learning-curve legend gives the
true number of runs per epoch."""

import pandas as pd
import pytest

from ssl_pipelines import reporting
from ssl_pipelines.cli import command_line, labeled_batch_keys, parse_variants, plan_sweep, sweep_tags
from ssl_pipelines.data import ConfigError

PARAMS = {
    "runtime": {"checkpoint_dir": "ck", "resume": True},
    "supervised": {"seed": 0, "data": {"name": "digits"}, "train": {"epochs": 30, "batch_size": 32}},
    "m2": {"seed": 0, "data": {"name": "digits"},
           "train": {"epochs": 60, "batch_labeled": 10, "batch_unlabeled": 100}},
    "m1": {"seed": 0, "data": {"name": "digits"}, "pretrain": {"epochs": 60, "batch_size": 32},
           "train": {"epochs": 100, "batch_size": 32}},
}
KNOWN = ["supervised", "m1", "m2", "r2d2"]


def test_plan_is_the_grid_in_order_with_tags_and_checkpoints():
    plan = plan_sweep(["supervised", "m2"], [0, 1], [100], params=PARAMS, known=KNOWN, epochs=2,
                      overrides={"train.verbose": 0})
    assert [(c.pipeline, c.labels, c.seed) for c in plan] == [
        ("supervised", 100, 0), ("supervised", 100, 1), ("m2", 100, 0), ("m2", 100, 1)]
    first = plan[0]
    assert first.runtime_params == {"supervised": {"seed": 0, "data": {"num_labeled": 100, "labels_per_class": None},
                                                   "train": {"epochs": 2, "verbose": 0}},
                                    "runtime": {"checkpoint_dir": "ck/sweep/L100-s0"}}
    assert first.tags == {"method": "supervised", "seed": "0", "labels": "100", "dataset": "digits"}
    assert first.run_name == "supervised-L100-s0" and first.notes == ()
    assert sweep_tags(plan, env=None, epochs=2) == {
        "sweep": "true", "sweep.pipelines": "supervised,m2", "sweep.seeds": "0,1", "sweep.labels": "100",
        "sweep.env": "base", "sweep.epochs": "2"}
    lpc = plan_sweep(["m2"], [3], None, params=PARAMS, known=KNOWN, labels_per_class=[5])
    assert lpc[0].label_text == "5/class" and lpc[0].run_name == "m2-lpc5-s3" and "labels" not in lpc[0].tags


def test_interleave_runs_the_grid_in_rounds_one_per_seed():
    """``--interleave``: every configuration of seed 2, then of seed 0, ... (the seeds' order), each
    round in the grid's order, so a drifting load hits every configuration of a timing sweep alike."""
    variants = parse_variants(["a:", "b:train.epochs=5"])
    plan = plan_sweep(["supervised", "m2"], [2, 0], [100], params=PARAMS, known=KNOWN, variants=variants,
                      interleave=True)
    assert [(c.seed, c.pipeline, c.variant) for c in plan] == [
        (2, "supervised", "a"), (2, "supervised", "b"), (2, "m2", "a"), (2, "m2", "b"),
        (0, "supervised", "a"), (0, "supervised", "b"), (0, "m2", "a"), (0, "m2", "b")]
    plain = plan_sweep(["supervised", "m2"], [2, 0], [100], params=PARAMS, known=KNOWN, variants=variants)
    assert sorted(c.run_name for c in plan) == sorted(c.run_name for c in plain)  # the same runs, reordered
    assert [c.seed for c in plain[:2]] == [2, 0]


def test_few_labels_lower_the_labeled_batch_of_each_pipeline_by_its_own_key():
    assert labeled_batch_keys("supervised", PARAMS["supervised"]) == ["train.batch_size"]
    assert labeled_batch_keys("m2", PARAMS["m2"]) == ["train.batch_labeled"]
    assert labeled_batch_keys("m1", PARAMS["m1"]) == ["train.batch_size"]  # pretrain runs over all images
    plan = plan_sweep(["supervised", "m2", "m1"], [0], [10], params=PARAMS, known=KNOWN)
    sup, m2, m1 = plan
    assert sup.runtime_params["supervised"]["train"] == {"batch_size": 10}
    assert sup.notes == ("supervised.train.batch_size: 32 -> 10 (only 10 labeled examples)",)
    assert "train" not in m2.runtime_params["m2"] and m2.notes == ()  # batch_labeled 10 fits 10 labels
    assert m1.runtime_params["m1"]["train"] == {"batch_size": 10} and "pretrain" not in m1.runtime_params["m1"]
    five = plan_sweep(["m2"], [0], [5], params=PARAMS, known=KNOWN)[0]
    assert five.runtime_params["m2"]["train"] == {"batch_labeled": 5}
    # a batch given with --params wins over the configured one, and is fitted too
    given = plan_sweep(["m2"], [0], [8], params=PARAMS, known=KNOWN, overrides={"m2.train.batch_labeled": 4})[0]
    assert given.runtime_params["m2"]["train"] == {"batch_labeled": 4} and given.notes == ()
    # strict: fail before anything runs, naming the pipeline's own key
    with pytest.raises(ConfigError, match=r"supervised\.train\.batch_size=32 is larger than the 10"):
        plan_sweep(["supervised", "m2"], [0], [10], params=PARAMS, known=KNOWN, adapt_batches=False)
    with pytest.raises(ConfigError, match=r"m2\.train\.batch_labeled=10 .*--params m2\.train\.batch_labeled=5"):
        plan_sweep(["m2"], [0], [5], params=PARAMS, known=KNOWN, adapt_batches=False)


def test_plan_refuses_unknown_pipelines_and_keys_before_anything_runs():
    with pytest.raises(ConfigError, match="'nope'"):
        plan_sweep(["supervised", "nope"], [0], [100], params=PARAMS, known=KNOWN)
    with pytest.raises(ConfigError, match="'trian.epochs'"):
        plan_sweep(["supervised"], [0], [100], params=PARAMS, known=KNOWN, overrides={"trian.epochs": 1})


def test_variants_make_one_child_each_tagged_over_the_sweep_params():
    variants = parse_variants(["full:", "ce_only:train.epochs=5,m2.train.batch_labeled=4", "wide:supervised.train.epochs=7"])
    plan = plan_sweep(["supervised", "m2"], [0, 1], [100], params=PARAMS, known=KNOWN,
                      overrides={"train.epochs": 2, "train.verbose": 0}, variants=variants)
    assert [(c.pipeline, c.variant, c.seed) for c in plan] == [
        (p, v, s) for p in ("supervised", "m2") for v in ("full", "ce_only", "wide") for s in (0, 1)]
    by = {(c.pipeline, c.variant, c.seed): c for c in plan}
    full, ce = by[("m2", "full", 1)], by[("m2", "ce_only", 1)]
    assert full.runtime_params["m2"]["train"] == {"epochs": 2, "verbose": 0}
    assert ce.runtime_params["m2"]["train"] == {"epochs": 5, "verbose": 0, "batch_labeled": 4}  # variant wins
    assert by[("supervised", "ce_only", 0)].runtime_params["supervised"]["train"] == {"epochs": 5, "verbose": 0}
    assert by[("supervised", "wide", 0)].runtime_params["supervised"]["train"]["epochs"] == 7
    assert by[("m2", "wide", 0)].runtime_params["m2"]["train"]["epochs"] == 2  # another pipeline's key: not m2's
    assert ce.tags == {"method": "m2", "seed": "1", "labels": "100", "dataset": "digits", "variant": "ce_only"}
    assert ce.run_name == "m2-ce_only-L100-s1"
    assert ce.runtime_params["runtime"]["checkpoint_dir"] == "ck/sweep/ce_only-L100-s1"  # apart from full's
    assert full.runtime_params["runtime"]["checkpoint_dir"] == "ck/sweep/full-L100-s1"
    command = command_line(["sweep", "--pipelines", "m2", "--variant", "ce_only:model.alpha=0,model.beta=0"])
    assert command == "ssl-pipelines sweep --pipelines m2 --variant ce_only:model.alpha=0,model.beta=0"
    tags = sweep_tags(plan, env=None, epochs=None, command=command)
    assert tags["sweep.variants"] == "full,ce_only,wide" and tags["sweep.command"] == command
    assert "sweep.variants" not in sweep_tags(plan_sweep(["m2"], [0], [100], params=PARAMS, known=KNOWN),
                                              env=None, epochs=None)


@pytest.mark.parametrize("texts, message", [
    (["a b:x=1"], "--variant expects NAME:key=value,key=value .* got 'a b:x=1'"),
    ([":train.epochs=1"], "--variant expects NAME:key=value"),
    (["v:train.epochs"], "--variant 'v:train.epochs': expects key=value pairs"),
    (["v:train.epochs=1", "v:train.epochs=2"], "--variant names must be distinct; repeated: v"),
])
def test_bad_variants_are_named(texts, message):
    with pytest.raises(ConfigError, match=message):
        parse_variants(texts)


def test_a_variant_key_no_swept_pipeline_has_is_refused_naming_the_variant():
    with pytest.raises(ConfigError, match="--variant bad: --params key 'trian.epochs'"):
        plan_sweep(["supervised"], [0], [100], params=PARAMS, known=KNOWN,
                   variants=parse_variants(["bad:trian.epochs=1"]))


def test_results_table_has_a_row_per_variant():
    runs = _runs([("a", "inversion", "mnist", 100, 0, 10.0, ""), ("b", "inversion", "mnist", 100, 1, 12.0, ""),
                  ("c", "inversion", "mnist", 100, 0, 20.0, ""), ("d", "inversion", "mnist", 100, 1, 22.0, "")])
    runs["variant"] = ["full", "full", "ce_only", "ce_only"]
    table = reporting.results_table(runs)
    assert list(zip(table["variant"], table["error"])) == [("full", "11.00 ± 1.41"), ("ce_only", "21.00 ± 1.41")]
    md = reporting.to_markdown(table)
    assert md.splitlines()[0].startswith("| method | variant | data set |") and "| inversion | ce_only |" in md
    assert "variant" not in reporting.to_markdown(reporting.results_table(runs.assign(variant=None)))
    runs.loc[3, "budget"] = "train.epochs=9"  # budgets may differ between variants, not within one
    with pytest.raises(ValueError, match=r"inversion \[ce_only\] \(mnist, 100 labels\)"):
        reporting.check_budgets(runs)
    reporting.check_budgets(runs[runs["variant"] == "full"].assign(budget="x"))


def _runs(rows):
    cols = ["run_id", "method", "dataset", "labels", "seed", "test_error", "budget"]
    return pd.DataFrame([dict(zip(cols, r)) for r in rows]).reindex(columns=reporting.RUN_COLUMNS)


def test_runs_with_different_budgets_are_not_averaged():
    same = _runs([("a", "m2", "digits", 100, 0, 10.0, "train.epochs=20"),
                  ("b", "m2", "digits", 100, 1, 12.0, "train.epochs=20"),
                  ("c", "supervised", "digits", 100, 0, 9.0, "train.epochs=30")])
    reporting.check_budgets(same)  # one budget per row: fine
    mixed = _runs([("a", "m2", "digits", 100, 0, 10.0, "train.epochs=20"),
                   ("b", "m2", "digits", 100, 1, 12.0, "train.epochs=60"),
                   ("c", "m2", "digits", 1000, 0, 5.0, "train.epochs=60")])
    with pytest.raises(ValueError, match=r"m2 \(digits, 100 labels\): \[train.epochs=20\]: a; \[train.epochs=60\]: b"):
        reporting.check_budgets(mixed)
    assert reporting.run_budget("m2", {"m2.train.epochs": "20", "m2.train.steps_per_epoch": "None",
                                       "m2.seed": "0", "m1.train.epochs": "3"}) == \
        "train.epochs=20 train.steps_per_epoch=None"


def test_learning_curve_legend_counts_the_runs_behind_each_epoch():
    assert reporting.runs_per_epoch_text(pd.Series([3, 3, 3])) == "n=3"
    assert reporting.runs_per_epoch_text(pd.Series([3] * 20 + [1] * 10, index=range(30))) == "n=3, n=1 from epoch 20"


def test_results_figure_has_one_point_per_run_and_the_published_stars():
    runs = _runs([("a", "m2", "mnist", 100, 0, 10.0, ""), ("b", "m2", "mnist", 100, 1, 12.0, ""),
                  ("c", "supervised", "mnist", 100, 0, 20.0, "")])
    table = reporting.results_table(runs)
    fig = reporting.errors_figure(runs, table)
    ax = fig.axes[0]
    points = [c for c in ax.collections if c.get_offsets().shape[0] and c.get_label() != "_nolegend_"]
    offsets = sorted(float(y) for c in ax.collections for _, y in c.get_offsets())
    assert 10.0 in offsets and 12.0 in offsets and 20.0 in offsets
    assert 11.97 in [round(y, 2) for y in offsets]  # Kingma Table 1, M2 at 100 MNIST labels
    assert [t.get_text() for t in ax.get_xticklabels()] == ["m2\nn=2", "supervised\nn=1"]
    assert points

"""The parameter reference page (``docs/parameters.md``), written from the parameter schemas.

The ``train:`` and ``evaluation:`` parts come from this package: the docstrings of
:mod:`ssl_pipelines.params.train` and :class:`~ssl_pipelines.params.data.Evaluation`, the key sets
(``TRAIN_KEYS``, ``EVALUATION_KEYS``), the value each parser uses for an absent key, and, per
pipeline, which sections :data:`~ssl_pipelines.params.pipelines.SCHEMAS` parses as training
sections. The ``runtime:`` part comes from ``conf/base/parameters.yml`` (its keys, values and
comments), since those keys are read by the project's hooks rather than parsed here. A test
checks that the committed page is what :func:`render_reference` writes::

    python -m ssl_pipelines.params.reference --write docs/parameters.md
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
from pathlib import Path
from typing import Any

#: the page's first lines (the marker says how it is made)
HEADER = """# Parameter reference: `train:`, `evaluation:`, `runtime:`

<!-- written by `python -m ssl_pipelines.params.reference --write docs/parameters.md` from
src/ssl_pipelines/params/ and conf/base/parameters.yml: do not edit by hand -->

Each pipeline's parameters live under `<pipeline>:` in `conf/base/parameters_<pipeline>.yml`
(`conf/paper/` overrides them for the papers' protocols); `runtime:` is top level, shared by every
pipeline. `check_parameters`, the first node of every pipeline, parses them all with the parsers
of `src/ssl_pipelines/params/` before anything loads, and a bad key or value fails there, named in
full. The data sources and the split (`data:`) are on [data.md](data.md); each method's own
sections are on its page under [methods/](README.md#methods).
"""

_ROLE = re.compile(r":(?:func|class|mod|meth|data|attr):`(~?)([^`]+)`")


def to_markdown(text: str) -> str:
    """A docstring's reStructuredText roles and literals as Markdown code spans (``~a.b.c`` as
    ``c``, as Sphinx shows it)."""
    text = _ROLE.sub(lambda m: f"`{m.group(2).rsplit('.', 1)[-1] if m.group(1) else m.group(2)}`", text)
    return text.replace("``", "`")


def yaml_value(value: Any) -> str:
    """``value`` as it is written in a parameters file."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {yaml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    return str(value)


def cell(text: str) -> str:
    """``text`` safe in a Markdown table cell: ``|`` escaped, ``<...>`` outside code spans shown as text."""
    parts = text.replace("|", "\\|").split("`")
    return "`".join(p if i % 2 else p.replace("<", "&lt;").replace(">", "&gt;") for i, p in enumerate(parts))


def _table(rows: list[tuple[str, ...]], head: tuple[str, ...]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(r) + " |" for r in rows)]


def train_part(conf: Path) -> list[str]:
    from ssl_pipelines.params import train as train_module
    from ssl_pipelines.params.train import AUGMENT_KEYS, TRAIN_KEYS, Augment, TrainConfig, parse_train
    from ssl_pipelines.training.optimizers import build_optimizer

    absent = parse_train({}, 0)[0]
    attribute = {"optimizer": "optimizer_params"}
    keys = [f.name if f.name != "optimizer_params" else "optimizer" for f in dataclasses.fields(TrainConfig)
            if f.name not in ("section", "seed", "extra")]
    if set(keys) != set(TRAIN_KEYS):  # a key without a field (or the reverse) must be documented by hand
        raise AssertionError(f"TRAIN_KEYS and TrainConfig differ: {sorted(set(keys) ^ set(TRAIN_KEYS))}")
    rows = [(f"`{k}`", f"`{yaml_value(getattr(absent, attribute.get(k, k)))}`") for k in keys]
    optimizer_doc = inspect.getdoc(build_optimizer).split("Args:", 1)[1].split("Raises:", 1)[0]
    optimizer_doc = " ".join(optimizer_doc.split()).removeprefix("params: ")
    augment = [(f"`{f.name}`", f"`{yaml_value(getattr(Augment(), f.name))}`") for f in dataclasses.fields(Augment)]
    if {row[0].strip("`") for row in augment} != set(AUGMENT_KEYS):
        raise AssertionError("AUGMENT_KEYS and Augment differ")
    return ["## `train:`", "", to_markdown(inspect.getdoc(train_module)), "",
            "The value a stage uses when a key is absent (a stage may pass its own, e.g. its batch sizes; "
            "every `conf/base` file sets most keys explicitly):", "", *_table(rows, ("key", "when absent")), "",
            f"`optimizer:` {to_markdown(optimizer_doc)}", "",
            f"`augment:` {to_markdown(inspect.getdoc(Augment))}", "", *_table(augment, ("key", "when absent")), "",
            *stages_part(conf)]


def stages_part(conf: Path) -> list[str]:
    """Each pipeline's training sections: the sections whose parser returns a TrainConfig."""
    import yaml

    from ssl_pipelines.params.pipelines import SCHEMAS
    from ssl_pipelines.params.train import TrainConfig

    rows = []
    for name, schema in SCHEMAS.items():
        path = conf / f"parameters_{name}.yml"
        values = (yaml.safe_load(path.read_text()) or {}).get(name, {}) if path.exists() else {}
        stages = []
        for section, parser in schema.items():
            try:
                parsed = parser(values.get(section), 0)
            except Exception:  # noqa: BLE001 - a section that does not parse alone is not listed
                continue
            first = parsed[0] if isinstance(parsed, tuple) and parsed else parsed
            if isinstance(first, TrainConfig):
                stages.append(f"`{section}`")
        rows.append((f"`{name}`", ", ".join(stages)))
    return ["The training sections of each pipeline (each takes every key above; a stage's own extra "
            "keys are on its method's page):", "", *_table(rows, ("pipeline", "training sections")), ""]


def evaluation_part() -> list[str]:
    from ssl_pipelines.params.data import EVALUATION_KEYS, Evaluation

    fields = [f.name for f in dataclasses.fields(Evaluation)]
    if set(fields) != set(EVALUATION_KEYS):
        raise AssertionError(f"EVALUATION_KEYS and Evaluation differ: {sorted(set(fields) ^ set(EVALUATION_KEYS))}")
    rows = [(f"`{k}`", f"`{yaml_value(getattr(Evaluation(), k))}`") for k in fields]
    doc = inspect.getdoc(Evaluation).split("\n", 1)[1].strip()
    return ["## `evaluation:`", "", "Every pipeline's `evaluation:` section (`ssl_pipelines.params.data.Evaluation`):",
            "", to_markdown(doc), "", *_table(rows, ("key", "when absent")), ""]


def runtime_part(parameters: Path) -> list[str]:
    """The ``runtime:`` keys of ``parameters`` (conf/base/parameters.yml), grouped under the comment
    block above them."""
    import yaml

    text = parameters.read_text()
    values = (yaml.safe_load(text) or {}).get("runtime") or {}
    groups: list[tuple[list[str], str]] = []
    comment: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        key = re.match(r"^  ([A-Za-z_]+):", line)
        if stripped.startswith("#"):
            comment.append(stripped.lstrip("#").strip())
        elif key and key.group(1) in values:
            if comment or not groups:
                groups.append(([], " ".join(comment)))
            groups[-1][0].append(key.group(1))
            comment = []
        else:
            comment = []
    rows = [(", ".join(f"`{k}: {yaml_value(values[k])}`" for k in keys), cell(what)) for keys, what in groups]
    return ["## `runtime:`", "",
            "Top level, in `conf/base/parameters.yml`, shared by every pipeline; read by the project's hooks "
            "(checkpoints and resume, the distribution strategy, threads, precision) before anything builds. "
            "What resume, the checkpoint folder and the strategies do: [robustness.md](robustness.md), "
            "[several_machines.md](several_machines.md), [precision.md](precision.md).", "",
            *_table(rows, ("keys (conf/base value)", "what")), ""]


def render_reference(project: Path | None = None) -> str:
    """The whole page, ending with a newline (``project``: the repository root, default the one
    this file is in)."""
    project = Path(project) if project is not None else Path(__file__).resolve().parents[3]
    conf = project / "conf" / "base"
    parts = [HEADER, *train_part(conf), *evaluation_part(), *runtime_part(conf / "parameters.yml")]
    return "\n".join(parts).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ssl_pipelines.params.reference",
                                     description="write the parameter reference page (docs/parameters.md)")
    parser.add_argument("--write", default=None, metavar="FILE", help="write it to FILE instead of printing it")
    args = parser.parse_args(argv)
    text = render_reference()
    if args.write is None:
        print(text, end="")
    else:
        Path(args.write).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

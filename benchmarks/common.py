"""What the benchmark drivers share: each builds one ``ssl-pipelines sweep`` command (the
pipelines' own parameters, ``--variant`` per configuration, the real data under
``../shared/data``), runs it through :func:`ssl_pipelines.cli.main` and writes its RESULTS.md
section with ``ssl-pipelines results --section``. No training code lives here."""

from __future__ import annotations

import argparse
import json
import os
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the real data sets, beside the repository (../shared/data from the main checkout, ../../shared/data
# from a worktree under wt/); SSL_PIPELINES_SHARED_DATA overrides
SHARED_DATA = Path(os.environ.get("SSL_PIPELINES_SHARED_DATA") or next(
    (p / "shared" / "data" for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared" / "data").is_dir()),
    ROOT.parent / "shared" / "data"))
SPEC = ROOT / "benchmarks" / "results_sections.yml"
# the MLflow stores of the benchmark sweeps, one per driver (committed: metadata only, the artifacts
# stay in the git-ignored mlruns/), so the RESULTS.md sections can be written again from them
STORES = ROOT / "benchmarks" / "stores"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
CIFAR10_JPEG_ARCHIVE = SHARED_DATA / "cifar10_jpeg_full" / "cifar10_jpg_full.tar.xz"
CIFAR10_JPEG_CACHE = ROOT / "data" / "01_raw" / "cifar10_jpeg.npz"


def store_uri(name: str) -> str:
    """The sqlite URI of the benchmark store ``benchmarks/stores/<name>.db``."""
    return f"sqlite:///{STORES / (name + '.db')}"


def portable(path: str | os.PathLike) -> str:
    """``path`` (absolute, or relative to the current folder) relative to the repository root, so that
    the ``sweep.command`` a RESULTS.md table prints runs on any checkout with ``../shared`` beside it."""
    return Path(os.path.relpath(Path(path).resolve(), ROOT)).as_posix()


def portable_uri(uri: str) -> str:
    """A ``sqlite:///`` tracking URI with its file :func:`portable`; other URIs unchanged."""
    prefix = "sqlite:///"
    return prefix + portable(uri[len(prefix):]) if uri.startswith(prefix) else uri


def driver_arguments(description: str, store: str, seeds: str = "0,1,2") -> argparse.ArgumentParser:
    """The options every driver has: seeds, threads per run, the MLflow store (default the driver's
    ``benchmarks/stores/<store>.db``), a dry run."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default=seeds, help=f"comma-separated seeds (default {seeds})")
    p.add_argument("--threads", type=int, default=1, help="runtime.threads of every run (default 1)")
    p.add_argument("--tracking-uri", default=store_uri(store),
                   help=f"MLflow store of the sweep and of the section (default benchmarks/stores/{store}.db)")
    p.add_argument("--no-write", action="store_true", help="print the RESULTS.md section instead of writing it")
    p.add_argument("--dry-run", action="store_true", help="print the sweep command and stop")
    return p


def choice_list(parser: argparse.ArgumentParser, text: str, flag: str, choices: list[str]) -> list[str]:
    """The comma-separated ``text`` of option ``flag`` as a list, each item one of ``choices``
    (else the parser's error naming the value and the choices)."""
    items = [c.strip() for c in text.split(",") if c.strip()]
    if not items or any(c not in choices for c in items):
        parser.error(f"{flag} expects some of {','.join(choices)}, got {text!r}")
    return items


def params_text(params: dict) -> str:
    """``{"a.b": 1, "c": [1, 2]}`` -> ``"a.b=1,c=[1, 2]"`` (the ``--params`` / ``--variant`` syntax)."""
    def value(v):
        if isinstance(v, (dict, list, tuple, bool)) or v is None:
            return json.dumps(v)  # JSON is YAML: null, true, [1, 2], {"a": null}
        return str(v)

    return ",".join(f"{k}={value(v)}" for k, v in params.items())


def sweep_command(pipelines: list[str], args, *, labels: str, run_name: str, params: dict,
                  variants: dict[str, dict] | None = None) -> list[str]:
    """The argv of ``ssl-pipelines sweep`` (without the program name), to run from the repository root:
    the project, the store and every ``*.path`` parameter relative to it (:func:`portable`), so the
    command recorded in MLflow (``sweep.command``) and printed above a RESULTS.md table names no folder
    of the machine that ran it."""
    params = {k: portable(v) if k.split(".")[-1] == "path" and isinstance(v, (str, os.PathLike)) else v
              for k, v in params.items()}
    argv = ["sweep", "--pipelines", ",".join(pipelines), "--seeds", args.seeds, "--labels", labels,
            "--run-name", run_name, "--project-path", ".", "--tracking-uri", portable_uri(args.tracking_uri),
            "--params", params_text({**params, "runtime.threads": args.threads})]
    for name, keys in (variants or {}).items():
        argv += ["--variant", f"{name}:{params_text(keys)}"]
    return argv


def run(sweep_argv: list[str], section: str, args) -> int:
    """Run the sweep from the repository root (its paths are relative to it, see :func:`sweep_command`),
    then write (or print) its RESULTS.md section from the same store."""
    print("ssl-pipelines " + shlex.join(sweep_argv), flush=True)
    if args.dry_run:
        return 0
    from ssl_pipelines import cli

    args.tracking_uri = portable_uri(args.tracking_uri)  # before the chdir: relative to where the user is
    os.chdir(ROOT)

    rc = cli.main(sweep_argv)
    if rc != 0:
        return rc
    return write_section(section, args.tracking_uri, args.no_write)


def write_section(section: str, tracking_uri: str, no_write: bool = False) -> int:
    """``ssl-pipelines results --section`` of benchmarks/RESULTS.md from ``tracking_uri`` (printed
    instead with ``no_write``)."""
    from ssl_pipelines import cli

    results = ["results", "--section", section, "--spec", str(SPEC), "--tracking-uri", tracking_uri]
    return cli.main(results + ([] if no_write else ["--write", str(RESULTS)]))


def cifar10_path(args) -> str:
    """A driver's CIFAR-10 ``.npz``: its ``--data-path``, else the cache of the JPEG copy (decoded on
    first use by :func:`cached_cifar10_npz`; with ``--dry-run`` only named, not decoded)."""
    if args.data_path:
        return args.data_path
    return portable(CIFAR10_JPEG_CACHE) if args.dry_run else str(cached_cifar10_npz())


def cached_cifar10_npz(archive: str | Path = CIFAR10_JPEG_ARCHIVE, cache: str | Path = CIFAR10_JPEG_CACHE) -> Path:
    """The lossy JPEG CIFAR-10 copy as an ``.npz`` cache (uint8), decoded from ``archive`` on first
    use (60k JPEGs: minutes) and reused afterwards (outside the repository's tracked files:
    ``data/01_raw`` is git-ignored). Returns the cache path."""
    cache = Path(cache)
    if not cache.exists():
        from ssl_pipelines.data import load_dataset, save_npz

        print(f"decoding {archive} (60k JPEGs) into {cache} ...", flush=True)
        save_npz(load_dataset("image_folder", path=str(archive)), cache)
    return cache

"""Command line: ``python -m gradconf {list,run,download,book}`` (also installed as ``gradconf``)."""
from __future__ import annotations

import argparse
import os
import sys

import yaml


def _parse_set(items: list[str]) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"--set takes key=value (YAML value), got {item!r}")
        key, value = item.split("=", 1)
        out[key] = yaml.safe_load(value)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gradconf", description="Gradient-confusion experiments.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="list sweeps and presets with their number of runs")
    p_list.add_argument("--sweeps-file", help="YAML file of presets and sweeps (default: packaged)")
    p_run = sub.add_parser("run", help="run a named sweep at a preset, reusing finished runs")
    p_run.add_argument("sweep")
    p_run.add_argument("--preset", required=True)
    p_run.add_argument("--store", default="results", help="result store folder (default: ./results)")
    p_run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a run-config field for every run, e.g. --set train.epochs=3")
    p_run.add_argument("--grid", action="append", default=[], metavar="AXIS=[V1,V2]",
                       help="replace or add a sweep axis, e.g. --grid seed=[0,1,2]")
    p_run.add_argument("--data-root", help="data folder (default: $GRADCONF_DATA)")
    p_run.add_argument("--sweeps-file", help="YAML file of presets and sweeps (default: packaged)")
    p_run.add_argument("--workers", type=int, default=1, help="local worker processes (default 1: this process)")
    p_run.add_argument("--scheduler", help="Dask scheduler address (e.g. tcp://host:8786): run on that cluster")
    p_run.add_argument("--device", default="cpu",
                       help="cpu (default), cuda, cuda:N, or auto (each worker's GPU when it has one)")
    p_run.add_argument("--quiet", action="store_true", help="no progress bars")
    p_dl = sub.add_parser("download", help="download and verify a dataset (needs internet)")
    p_dl.add_argument("dataset", choices=["mnist", "cifar10"])
    p_dl.add_argument("--root", help="data folder (default: $GRADCONF_DATA or the user cache)")
    p_book = sub.add_parser("book", help="execute the notebooks at a preset, then build the HTML book (-W)")
    p_book.add_argument("--preset", default="book", help="smoke, book (default) or paper")
    p_book.add_argument("--only", nargs="+", metavar="NOTEBOOK", help="execute only these notebooks")
    p_book.add_argument("--force", action="store_true", help="re-execute notebooks even when up to date")
    p_book.add_argument("--no-build", action="store_true", help="execute only; do not build the HTML")
    p_book.add_argument("--root", default=".", help="repository root (default: .)")
    args = parser.parse_args(argv)

    if args.command == "book":
        return _book(args)

    if args.command == "list":
        from .sweeps import describe

        for row in describe(args.sweeps_file):
            print(f"{row['sweep']:<12} {row['preset']:<6} {row['runs']:>5} runs  {row['description']}")
        return 0
    if args.command == "download":
        from .data import download_dataset

        print(f"{args.dataset} verified in {download_dataset(args.dataset, args.root)}")
        return 0

    from .experiment import ResultStore, run_sweep
    from .sweeps import sweep_configs

    try:
        configs = sweep_configs(args.sweep, args.preset, overrides=_parse_set(args.set),
                                grid=_parse_set(args.grid), sweeps_file=args.sweeps_file)
    except ValueError as err:
        print(f"gradconf: {err}", file=sys.stderr)
        return 2
    store = ResultStore(args.store)
    print(f"{args.sweep} at preset {args.preset}: {len(configs)} runs, store {store.path}", flush=True)
    report = run_sweep(configs, store, data_root=args.data_root, progress=not args.quiet,
                       workers=args.workers, scheduler=args.scheduler, device=args.device)
    print(f"done: ran {report.ran}, reused {report.reused}, {report.wall_s:.1f} s", flush=True)
    return 0


def _book(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from .book import build_html, execute_all
    from .studies import RESULTS_ENV

    root = Path(args.root).resolve()
    # Notebooks that train networks keep their runs in a result store (gradconf.studies.results_store).
    os.environ.setdefault(RESULTS_ENV, str(root / "results"))
    start = time.perf_counter()
    walls = execute_all(root, args.preset, only=args.only, force=args.force, progress=True,
                        log=lambda m: print(m, flush=True))
    print(f"executed {len(walls)} notebook(s) in {sum(walls.values()):.0f} s", flush=True)
    if not args.no_build:
        if args.preset != "book":
            print(f"note: the book renders book/*.ipynb (preset book); preset {args.preset} outputs are elsewhere",
                  flush=True)
        print("building HTML: jupyter-book build . --all -W -n --keep-going", flush=True)
        build_html(root)
        print(f"book: {root / '_build/html/index.html'}", flush=True)
    print(f"total {time.perf_counter() - start:.0f} s", flush=True)
    return 0

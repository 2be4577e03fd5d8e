"""Command line: ``python -m gradconf {list,run,merge,window,download,book}`` (also installed as ``gradconf``)."""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from typing import Any

import yaml

# OpenMP threads that spin while they wait collapse when two sweep drivers (or a driver and a notebook) share
# a few cores: measured on this 2-core machine, one init_mnist run took 39.9 s with the default policy and
# 7.7 s with PASSIVE. torch reads the variable when it loads, so it is set before anything imports torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# YAML 1.1 (PyYAML) reads 1e-3, 1e+3 and 1.0e30 as strings; YAML 1.2 and every reader read numbers.
_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


class UsageError(ValueError):
    """A command line that cannot run; printed as one line, exit status 2."""


def parse_value(text: str) -> Any:
    """A command-line value as YAML 1.2 would read it (numbers in exponent form are numbers)."""
    def fix(value: Any) -> Any:
        if isinstance(value, str) and _FLOAT.match(value.strip()):
            return float(value)
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    try:
        return fix(yaml.safe_load(text))
    except yaml.YAMLError as err:
        raise UsageError(f"cannot read {text!r} as a YAML value: {str(err).splitlines()[0]}") from None


def _parse_set(items: list[str], option: str = "--set") -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"{option} takes KEY=VALUE (a YAML value), got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = parse_value(value)
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
    p_run.add_argument("--stage", choices=["all", "pilot", "seeds"], default="all",
                       help="for sweeps with an LR pilot: the pilot seed only, the judged seeds only, or both")
    p_run.add_argument("--time-limit", type=float, metavar="SECONDS",
                       help="start no run after this many seconds (a GPU window); runs under way finish")
    p_run.add_argument("--checkpoint-every", type=float, default=120.0, metavar="SECONDS",
                       help="save each local run's training state to STORE/partial this often, and resume "
                            "from it after an interruption (default 120; 0: off)")
    p_run.add_argument("--export", metavar="ARCHIVE",
                       help="write the runs this call computed to ARCHIVE (.tar.gz) at the end")
    p_merge = sub.add_parser("merge", help="add the valid run records of archives or store folders to a store")
    p_merge.add_argument("sources", nargs="*", metavar="ARCHIVE_OR_FOLDER")
    p_merge.add_argument("--partial", metavar="PREFIX",
                         help="also the checkpoints of unfinished runs in the parts PREFIX.00ofNN, PREFIX.01ofNN, "
                              "... (window collect --partial-out), if there are any, into STORE/partial")
    p_merge.add_argument("--into", required=True, help="the store to add them to, e.g. results/gpu")
    _window_parser(sub)
    p_dl = sub.add_parser("download", help="download and verify a dataset (needs internet)")
    p_dl.add_argument("dataset", choices=["mnist", "cifar10"])
    p_dl.add_argument("--root", help="data folder (default: $GRADCONF_DATA or the user cache)")
    p_book = sub.add_parser("book", help="execute the notebooks at a preset, then build the HTML book (-W)")
    p_book.add_argument("--preset", default="book",
                        help="smoke (into tests/notebooks/), book (default; into book/), paper (into book/paper/, "
                             "never over the book's own executions) or gpu "
                             "(only the CNN chapters cnn_depth, cnn_width and bn_skip, from the results/gpu store, "
                             "into book/gpu/; list each in _toc.yml to publish it)")
    p_book.add_argument("--only", nargs="+", metavar="NOTEBOOK", help="execute only these notebooks")
    p_book.add_argument("--force", action="store_true", help="re-execute notebooks even when up to date")
    p_book.add_argument("--no-build", action="store_true", help="execute only; do not build the HTML")
    p_book.add_argument("--recompute", action="store_true",
                        help="allow executing notebooks to compute runs the result store lacks (hours for the "
                             "trained chapters); without it such a run stops before it starts and says what is missing")
    p_book.add_argument("--root", default=".", help="repository root (default: .)")
    args = parser.parse_args(argv)
    try:
        return _dispatch(args)
    except (UsageError, ValueError, KeyError, OSError) as err:
        # input and environment errors: one clear line, no traceback (exit 2)
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"gradconf: {message}", file=sys.stderr)
        return 2


def _window_parser(sub: Any) -> None:
    p = sub.add_parser("window", help="run sweeps on a borrowed GPU reached through short calls (gradconf.window)")
    w = p.add_subparsers(dest="window_command", required=True)
    stage = w.add_parser("stage", help="here: copy a dataset's verified files into a git-ignored folder of the "
                                       "repository and print which files each call carries")
    stage.add_argument("dataset", choices=["mnist", "cifar10"])
    stage.add_argument("--into", default=".gpu", help="git-ignored folder of the repository (default: .gpu)")
    stage.add_argument("--data-root", help="where the verified files are (default: $GRADCONF_DATA)")
    stage.add_argument("--limit-mib", type=float, default=64, help="what one call may send (default: 64)")
    stage.add_argument("--checkpoints-from", metavar="STORE",
                       help="also plan the checkpoints of STORE's unfinished runs (e.g. results/gpu, whose "
                            "partial/ is git-ignored), carried in the first calls")
    receive = w.add_parser("receive", help="there: verify carried dataset files and move them into the data root")
    receive.add_argument("source", nargs="?", default=".gpu", help="the carried folder (default: .gpu)")
    receive.add_argument("--data-root", required=True, help="where the driver reads data, outside the tree")
    start = w.add_parser("start", help="there: start the detached driver that runs the sweeps across calls")
    start.add_argument("sweeps", nargs="+")
    start.add_argument("--preset", required=True)
    start.add_argument("--store", required=True, help="the window's result store, outside the tree")
    start.add_argument("--seed-from", help="the committed store to start from, e.g. results/gpu")
    start.add_argument("--data-root", required=True)
    start.add_argument("--device", default="cuda", help="cuda (default), cuda:N, cpu or auto")
    start.add_argument("--workers", type=int, default=1, help="concurrent runs (processes) on the device")
    start.add_argument("--workdir", required=True, help="the driver's status and log, outside the tree")
    start.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="passed to every run")
    start.add_argument("--grid", action="append", default=[], metavar="AXIS=[V1,V2]", help="passed to every run")
    collect = w.add_parser("collect", help="there: wait, then export the records the committed store lacks")
    collect.add_argument("--store", required=True, help="the window's result store")
    collect.add_argument("--workdir", required=True)
    collect.add_argument("--committed", help="the committed store the tree carries, e.g. results/gpu")
    collect.add_argument("--out", required=True, help="archive to write, e.g. $OUT/new-runs.tar.gz")
    collect.add_argument("--wait", type=float, default=0.0,
                         help="seconds to wait (less if the driver ends, or still waits for data after 30 s)")
    collect.add_argument("--partial-out", metavar="PREFIX",
                         help="at the end, also export the checkpoints of unfinished runs newer than --committed's "
                              "as PREFIX.00ofNN, PREFIX.01ofNN, ... (each under 16 MiB), e.g. $OUT/partial.tar")
    collect.add_argument("--partial-budget-mib", type=float, metavar="MIB",
                         help="what those parts may take together (default: the 64 MiB a call brings back, less "
                              "the records' archive and 2 MiB; the runs that gained the most epochs first)")
    collect.add_argument("--export-every", type=float, default=60.0, metavar="S",
                         help="re-export the archive every S seconds while waiting (default 60), so a call cut "
                              "short still hands home what finished")
    drive = w.add_parser("drive", help="the driver itself (what start runs detached)")
    drive.add_argument("--workdir", required=True)


def _window(args: argparse.Namespace) -> int:
    from pathlib import Path

    from . import window

    cmd = args.window_command
    if cmd == "stage":
        from .data import data_root

        into = Path(args.into).resolve()
        into.mkdir(parents=True, exist_ok=True)  # git matches a folder pattern only to a folder
        repo = window.repo_root(into)
        if not window.git_ignored(repo, into):
            raise UsageError(f"{args.into} is not ignored by git: it would travel with the tree in every call "
                             "(add it to .gitignore)")
        staged = window.stage(args.dataset, data_root(args.data_root), into)
        checkpoints = []
        if args.checkpoints_from:
            from .checkpoint import stale_reason
            from .store import ResultStore

            store = ResultStore(args.checkpoints_from)
            for path in store.checkpoints():
                reason = stale_reason(path)
                if reason:  # it can resume nothing: not worth a call's room
                    print(f"not carried, stale: {reason} (delete it)")
                else:
                    checkpoints.append(path.resolve())
            if checkpoints and repo not in store.partial.resolve().parents:
                raise UsageError(f"{store.partial} is outside the repository {repo}: a call carries only its paths")
            if checkpoints and not window.git_ignored(repo, store.partial.resolve()):
                raise UsageError(f"{store.partial} is not ignored by git: add it to .gitignore")
        tree = window.tree_bytes(repo)
        calls = window.carry_plan(staged, tree, int(args.limit_mib * 2**20), first=checkpoints)
        print(f"staged {len(staged)} verified file(s) of {args.dataset} under {into}"
              + (f", and {len(checkpoints)} checkpoint(s) of unfinished runs in {args.checkpoints_from}, which "
                 "travel first" if args.checkpoints_from else "")
              + f"; the tree of {repo} sends {tree / 2**20:.1f} MiB per call, so they travel in {len(calls)} call(s) "
              "(carry paths are relative to the repository root; stage again before a window, as the tree grows):")
        for i, files in enumerate(calls, 1):
            size = sum(f.stat().st_size for f in files) / 2**20
            print(f"  call {i} ({size:.1f} MiB): carry {json.dumps(sorted(str(f.relative_to(repo)) for f in files))}")
        from .experiment import GIT_COMMIT_ENV, git_commit

        # the tree travels without .git: the driver's records name the commit only if told it
        commit = git_commit()
        print(f"the tree is at commit {commit}: there, start the driver with {GIT_COMMIT_ENV}={commit} in its "
              "environment")
        return 0
    if cmd == "receive":
        got = window.receive(args.source, args.data_root)
        print(got)
        return 1 if got.bad else 0
    if cmd == "start":
        from .experiment import resolve_device
        from .sweeps import sweep_configs

        if args.workers < 1:
            raise UsageError(f"--workers must be at least 1, got {args.workers}")
        resolve_device(args.device)  # a GPU that is not there fails now, not after the data have arrived
        overrides, grid = _parse_set(args.set), _parse_set(args.grid, "--grid")
        for sweep in args.sweeps:  # every input error now, in the call, not after the data have arrived
            _check_overrides(sweep, args.preset, overrides, grid)
            sweep_configs(sweep, args.preset, overrides=overrides, grid=grid)
        run_args = tuple(a for item in args.set for a in ("--set", item)) + tuple(
            a for item in args.grid for a in ("--grid", item))
        spec = window.DriverSpec(tuple(args.sweeps), args.preset, str(Path(args.store).expanduser().resolve()),
                                 str(Path(args.data_root).expanduser().resolve()), args.device, args.workers,
                                 args.seed_from and str(Path(args.seed_from).resolve()), run_args)
        try:
            started, pid = window.start_driver(spec, args.workdir)
        except RuntimeError as err:
            print(f"gradconf: {err}", file=sys.stderr)
            return 1
        state = (window.read_status(args.workdir) or {}).get("state", "still starting")
        print(f"{'started the' if started else 'a'} window driver{'' if started else ' already runs'}: pid {pid}, "
              f"{state}; log {Path(args.workdir) / window.LOG_FILE}")
        return 0
    if cmd == "collect":
        report = window.collect(args.store, args.out, workdir=args.workdir, committed=args.committed,
                                wait_s=args.wait, export_every_s=args.export_every, partial_out=args.partial_out,
                                partial_budget_bytes=None if args.partial_budget_mib is None
                                else int(args.partial_budget_mib * 2**20))
        print(report)
        return 1 if report.state.startswith(("failed", "gone")) else 0
    return window.drive(args.workdir)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "book":
        return _book(args)
    if args.command == "window":
        return _window(args)
    if args.command == "merge":
        from .store import checkpoint_parts, merge_archives

        sources = list(args.sources)
        if args.partial:
            parts = checkpoint_parts(args.partial)
            print(f"{len(parts)} checkpoint part(s) at {args.partial}.NN")
            sources += parts
        if not sources:
            raise UsageError("nothing to merge: give archives or folders, or --partial with parts there")
        report = merge_archives(sources, args.into)
        print(f"merged into {args.into}: {report}")
        return 1 if report.rejected else 0

    if args.command == "list":
        from .sweeps import describe

        for row in describe(args.sweeps_file):
            runs = "-" if row["runs"] is None else row["runs"]
            print(f"{row['sweep']:<12} {row['preset']:<6} {runs:>5} runs  {row['description']}")
        return 0
    if args.command == "download":
        from .data import download_dataset

        print(f"{args.dataset} verified in {download_dataset(args.dataset, args.root)}")
        return 0

    return _run(args)


def _check_overrides(sweep: str, preset: str, overrides: dict, grid: dict, sweeps_file: str | None = None) -> None:
    """UsageError when ``--set`` names a sweep axis (the axis would silently win)."""
    from .sweeps import sweep_axes

    clash = sorted(set(overrides) & (set(sweep_axes(sweep, preset, sweeps_file=sweeps_file)) | set(grid)))
    if clash:
        raise UsageError(f"--set {', '.join(clash)}: a sweep axis; give its values with --grid "
                         f"{clash[0]}=[...] instead (--set would be overridden by the axis)")


def _run(args: argparse.Namespace) -> int:
    from .allocator import keep_freed_memory
    from .experiment import ResultStore, SweepFailed, run_sweep
    from .sweeps import sweep_stages

    keep_freed_memory()  # runs in this process reuse freed memory (time only; see gradconf.allocator)

    overrides, grid = _parse_set(args.set), _parse_set(args.grid, "--grid")
    _check_overrides(args.sweep, args.preset, overrides, grid, args.sweeps_file)
    store = ResultStore(args.store)
    store.check_writable()
    before = set(store.keys())
    status, start = 0, time.perf_counter()
    for stage, configs in sweep_stages(args.sweep, args.preset, store, overrides=overrides, grid=grid,
                                       sweeps_file=args.sweeps_file, stage=args.stage):
        print(f"{args.sweep} at preset {args.preset}, {stage}: {len(configs)} runs, store {store.path}", flush=True)
        try:
            report = run_sweep(configs, store, data_root=args.data_root, progress=not args.quiet,
                               workers=args.workers, scheduler=args.scheduler, device=args.device,
                               deadline_s=None if args.time_limit is None
                               else max(0.0, args.time_limit - (time.perf_counter() - start)),
                               checkpoint_every_s=args.checkpoint_every or None)
        except SweepFailed as err:
            report, status = err.report, 1
            print(f"gradconf: {err}", file=sys.stderr)
        print(f"{stage}: ran {report.ran}, reused {report.reused}, elsewhere {report.claimed_elsewhere}, "
              f"{report.wall_s:.1f} s", flush=True)
        if status or (args.time_limit is not None and report.ran + report.reused < len(configs)):
            break
    if args.export:
        new = sorted(set(store.keys()) - before)
        store.export(args.export, new)
        print(f"exported {len(new)} new run(s) to {args.export}", flush=True)
    return status


def _book(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from .book import SUBFOLDER_PRESETS, RecomputeRequired, build_html, execute_all, toc_problems
    from .studies import RESULTS_ENV

    root = Path(args.root).resolve()
    # Notebooks that train networks keep their runs in a result store (gradconf.studies.results_store).
    os.environ.setdefault(RESULTS_ENV, str(root / "results"))
    start = time.perf_counter()
    try:
        walls = execute_all(root, args.preset, only=args.only, force=args.force, recompute=args.recompute,
                            progress=True, log=lambda m: print(m, flush=True))
    except RecomputeRequired as err:
        print(f"gradconf book: {err}", file=sys.stderr, flush=True)
        return 2
    print(f"executed {len(walls)} notebook(s) in {sum(walls.values()):.0f} s", flush=True)
    if args.preset in SUBFOLDER_PRESETS:
        for problem in toc_problems(root):  # e.g. a new book/gpu/ execution that _toc.yml does not list yet
            print(f"note: {problem}", flush=True)
        if walls:
            print(f"note: re-execute the summary, which lists the {args.preset} verdicts apart: "
                  "python -m gradconf book --preset book --only summary --no-build", flush=True)
    if not args.no_build:
        if args.preset not in ("book", *SUBFOLDER_PRESETS):
            print(f"note: the book renders book/*.ipynb (preset book); preset {args.preset} outputs are in "
                  "tests/notebooks/", flush=True)
        print("building HTML: jupyter-book build . --all -W -n --keep-going", flush=True)
        build_html(root)
        print(f"book: {root / '_build/html/index.html'}", flush=True)
    print(f"total {time.perf_counter() - start:.0f} s", flush=True)
    return 0

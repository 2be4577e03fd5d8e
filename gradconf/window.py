"""A GPU window: sweeps on a borrowed accelerator reached through short calls.

Such a machine is reached by calls of at most ten minutes, each sending the working tree plus at most
64 MiB of carried files, and it keeps what it computed only while calls keep it warm. Running a sweep
inside each call (``gradconf run --time-limit``) idles the accelerator at every call's end while the last
runs drain, and loses every run under way when a call overruns. Here one detached driver computes
across calls instead, and each call only hands new records home:

- ``stage`` (here, once): copy a dataset's verified files into a git-ignored folder of the repository
  and plan which files each call carries (:func:`carry_plan`: tree + pieces under the limit).
- ``receive`` (there, each carrying call): verify every carried file against the dataset's checksums
  and move it into the data root; set a broken one aside (``*.bad``) and say what the dataset still
  lacks (:func:`receive`).
- ``start`` (there, once): a driver in its own process session, so that it outlives the call, which
  imports a snapshot of the code (every call replaces the tree), waits until every dataset its sweeps
  read is complete and verified, then runs the sweeps in order (exactly ``gradconf run``) into a store
  outside the tree, seeded from the committed store that the tree carries. It holds a lock for its
  lifetime, so a second ``start`` finds it and starts nothing (:func:`start_driver`).
- ``collect`` (there, each call once the data are carried): wait up to N seconds, or until the driver
  ends, exporting every record that the committed store lacks as one archive every minute and at the
  end, so that a call cut short still hands home what finished, and say where the driver stands
  (:func:`collect`; it stops waiting early while the driver still waits for data). Back home:
  ``gradconf merge ARCHIVE --into results/gpu``, then commit.

Runs under way keep their training state in the window store's ``partial/`` (:mod:`gradconf.checkpoint`,
at the first epoch end after every two minutes). ``collect --partial-out`` hands home, at the end of its
wait, those newer than the committed store's, in numbered parts under the transfer's per-file limit;
``gradconf merge`` puts them into ``results/gpu/partial/`` (git-ignored), ``stage --checkpoints-from
results/gpu`` plans them into the next window's first calls, and that window's driver resumes each run
where it stopped (it merges the committed store again before each sweep). A call that the machine cuts
short hands home its records but no checkpoints: the epochs since the last checkpoint that came home
are computed again.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# No torch here (gradconf.data imports it): the driver takes its lock before anything slow loads.

#: What travels with one call: the working tree plus carried files (the device tool's limit).
CALL_LIMIT_BYTES = 64 * 2**20
#: How many paths one call may carry (the device tool's limit).
CALL_MAX_PATHS = 8
#: What one call may bring back from its output folder, all files together (the device tool's limit).
RETURN_LIMIT_BYTES = 64 * 2**20
#: Kept free of checkpoints in what a call brings back, for the driver's log and a benchmark's table.
RETURN_RESERVE_BYTES = 2 * 2**20

STATUS_FILE = "driver.json"
LOG_FILE = "driver.log"
LOCK_FILE = "driver.lock"
CODE_DIR = "code"


class CorruptPieceError(ValueError):
    """A carried file that matches none of its accepted checksums (it was renamed ``*.bad``)."""


def dataset_files() -> dict[str, tuple[str, dict[str, tuple[str, ...]]]]:
    """Each dataset's folder under a data root and its files with their accepted ``algo:hex``
    checksums: gradconf.data's tables (importing it loads torch)."""
    from .data import CIFAR_DIR, CIFAR_FILES, MNIST_DIR, MNIST_FILES

    return {"mnist": (MNIST_DIR, MNIST_FILES), "cifar10": (CIFAR_DIR, CIFAR_FILES)}


def _table(table: dict | None) -> dict[str, tuple[str, dict[str, tuple[str, ...]]]]:
    return dataset_files() if table is None else table


def _digest_matches(path: Path, accepted: tuple[str, ...]) -> bool:
    """Whether ``path`` is a file matching one ``algo:hex`` of ``accepted`` (gradconf.data.verify_file)."""
    from .data import DataIntegrityError, verify_file

    try:
        verify_file(path, accepted, path.parent, "check")
    except (DataIntegrityError, FileNotFoundError):
        return False
    return True


# --- here: what each call carries -----------------------------------------------------------------

def repo_root(path: str | os.PathLike = ".") -> Path:
    """The top folder of the git repository holding ``path`` (carried paths are relative to it)."""
    out = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=path, check=True, capture_output=True, text=True)
    return Path(out.stdout.strip())


def tree_bytes(repo: str | os.PathLike) -> int:
    """Bytes of what a call sends besides carried files: tracked files and untracked files that git
    does not ignore (as ``git ls-files -co --exclude-standard`` lists them from the repository root)."""
    repo = repo_root(repo)
    out = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=repo, check=True,
                         capture_output=True).stdout
    total = 0
    for name in out.decode().split("\0"):
        path = Path(repo) / name
        if name and path.is_file() and not path.is_symlink():
            total += path.stat().st_size
    return total


def carry_plan(files: Iterable[str | os.PathLike], tree: int, limit: int = CALL_LIMIT_BYTES,
               first: Iterable[str | os.PathLike] = (), max_paths: int = CALL_MAX_PATHS) -> list[list[Path]]:
    """Files grouped into calls, largest first into the first call with room, so that each call's
    tree (``tree`` bytes) plus its files stays within ``limit`` and it carries at most ``max_paths``
    files; ValueError naming a file that fits no call. The files of ``first`` (checkpoints, which the
    driver must find when it starts computing) are placed before all others, so they travel in the
    earliest calls."""
    room = limit - tree
    calls: list[list[Path]] = []
    free: list[int] = []

    def by_size(group: Iterable[str | os.PathLike]) -> list[Path]:
        return sorted((Path(f) for f in group), key=lambda p: (-p.stat().st_size, str(p)))

    for path in [*by_size(first), *by_size(files)]:
        size = path.stat().st_size
        if size > room:
            raise ValueError(f"{path} ({size / 2**20:.1f} MiB) cannot travel in one call: the tree takes "
                             f"{tree / 2**20:.1f} of the {limit / 2**20:.0f} MiB a call may send")
        slot = next((i for i, f in enumerate(free) if f >= size and len(calls[i]) < max_paths), None)
        if slot is None:
            calls.append([])
            free.append(room)
            slot = len(calls) - 1
        calls[slot].append(path)
        free[slot] -= size
    return calls


def stage(dataset: str, source_root: str | os.PathLike, dest: str | os.PathLike,
          table: dict[str, tuple[str, dict[str, tuple[str, ...]]]] | None = None) -> list[Path]:
    """Copy ``dataset``'s files, each verified first, from ``source_root`` to ``dest/<its folder>``
    (kept when a verified copy is there already); returns the staged paths. A source file that fails
    its checksum raises CorruptPieceError before anything of it is copied."""
    folder, files = _dataset(dataset, _table(table))
    out = []
    for name, accepted in files.items():
        src = Path(source_root) / folder / name
        if not src.is_file():
            raise FileNotFoundError(f"{dataset}: {src} is missing (source root {source_root})")
        if not _digest_matches(src, accepted):
            raise CorruptPieceError(f"{dataset}: {src} matches none of its checksums ({', '.join(accepted)})")
        target = Path(dest) / folder / name
        if not _digest_matches(target, accepted):
            _copy_into(src, target)
        out.append(target)
    return out


def _copy_into(src: Path, target: Path) -> None:
    """Copy ``src`` to ``target`` under a temporary name, then rename, so that an interrupted copy
    never leaves a partial file under the name a checksum check would read."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part")
    shutil.copyfile(src, tmp)
    os.replace(tmp, target)


def git_ignored(repo: str | os.PathLike, path: str | os.PathLike) -> bool:
    """Whether git ignores ``path`` in ``repo`` (a carried folder must be ignored, or it travels twice)."""
    return subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=repo).returncode == 0


# --- there: receiving data ----------------------------------------------------------------------

def _dataset(name: str, table: dict) -> tuple[str, dict[str, tuple[str, ...]]]:
    if name not in table:
        raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(table)}")
    return table[name]


def missing_files(dataset: str, root: str | os.PathLike,
                  table: dict[str, tuple[str, dict[str, tuple[str, ...]]]] | None = None) -> list[str]:
    """The files of ``dataset`` under ``root`` that are absent or fail their checksum."""
    folder, files = _dataset(dataset, _table(table))
    return [name for name, accepted in files.items() if not _digest_matches(Path(root) / folder / name, accepted)]


@dataclass
class Received:
    """What :func:`receive` did: files moved into the data root, carried files that failed their
    checksum (renamed ``*.bad``: carry them again), and what each dataset still lacks."""

    moved: list[str]
    bad: list[str]
    missing: dict[str, list[str]]

    def __str__(self) -> str:
        lines = [f"received {len(self.moved)} verified file(s)" + (f": {', '.join(self.moved)}" if self.moved else "")]
        lines += [f"CORRUPT, not moved (renamed .bad; carry it again): {b}" for b in self.bad]
        for dataset, names in self.missing.items():
            lines.append(f"{dataset}: complete and verified" if not names
                         else f"{dataset}: still missing {len(names)}: {', '.join(names)}")
        return "\n".join(lines)


def receive(source: str | os.PathLike, root: str | os.PathLike,
            table: dict[str, tuple[str, dict[str, tuple[str, ...]]]] | None = None) -> Received:
    """Move every dataset file found under ``source/<dataset folder>/`` into ``root`` once it matches
    one of its accepted checksums (written to a temporary name, then renamed). A file that matches
    none is renamed ``<name>.bad`` where it lies, so that it blocks nothing, and listed in ``bad``.
    Only datasets with a file in ``source`` or ``root`` are reported."""
    table = _table(table)
    moved: list[str] = []
    bad: list[str] = []
    missing: dict[str, list[str]] = {}
    for dataset, (folder, files) in table.items():
        seen = False
        for name, accepted in files.items():
            src, target = Path(source) / folder / name, Path(root) / folder / name
            seen = seen or target.exists()
            if not src.is_file():
                continue
            seen = True
            if not _digest_matches(src, accepted):
                src.replace(src.with_name(f"{name}.bad"))
                bad.append(f"{dataset}/{name}")
                continue
            _copy_into(src, target)
            src.unlink()
            moved.append(f"{dataset}/{name}")
        if seen:
            missing[dataset] = missing_files(dataset, root, table)
    return Received(moved, bad, missing)


def wait_for_data(datasets: Iterable[str], root: str | os.PathLike, *, poll_s: float = 10.0,
                  log: Callable[[str], None] = print,
                  table: dict[str, tuple[str, dict[str, tuple[str, ...]]]] | None = None) -> None:
    """Block until every dataset in ``datasets`` is complete and verified under ``root`` (synthetic
    datasets need nothing); logs what is missing whenever that changes."""
    table = _table(table)
    datasets = sorted(set(datasets) & set(table))
    last = None
    while True:
        missing = {d: missing_files(d, root, table) for d in datasets}
        missing = {d: m for d, m in missing.items() if m}
        if not missing:
            return
        if missing != last:
            log("waiting for data: " + "; ".join(f"{d} lacks {', '.join(m)}" for d, m in missing.items()))
            last = missing
        time.sleep(poll_s)


# --- there: the driver ----------------------------------------------------------------------------

def read_status(workdir: str | os.PathLike) -> dict[str, Any] | None:
    """The driver's status file (``driver.json``), or None when no driver was started here."""
    path = Path(workdir).expanduser() / STATUS_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _write_status(workdir: Path, **fields: Any) -> None:
    status = read_status(workdir) or {}
    status.update(fields, updated=time.time())
    tmp = workdir / f".{STATUS_FILE}.tmp"
    tmp.write_text(json.dumps(status))
    os.replace(tmp, workdir / STATUS_FILE)


def driver_alive(workdir: str | os.PathLike) -> bool:
    """Whether a driver runs from ``workdir``: it holds ``driver.lock`` for as long as it lives (a lock,
    unlike a pid, cannot outlive its process or be mistaken for a later one)."""
    path = Path(workdir).expanduser() / LOCK_FILE
    if not path.exists():
        return False
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


@dataclass(frozen=True)
class DriverSpec:
    """One window's work: ``sweeps`` in order at ``preset`` into ``store`` (seeded from ``seed_from``),
    on ``device`` with ``workers`` processes, reading data from ``data_root``; ``run_args`` are passed
    to every ``gradconf run`` (e.g. ``--set``/``--grid``)."""

    sweeps: tuple[str, ...]
    preset: str
    store: str
    data_root: str
    device: str = "cuda"
    workers: int = 1
    seed_from: str | None = None
    run_args: tuple[str, ...] = ()

    def run_argv(self, sweep: str) -> list[str]:
        return ["run", sweep, "--preset", self.preset, "--store", self.store, "--data-root", self.data_root,
                "--device", self.device, "--workers", str(self.workers), "--quiet", *self.run_args]


def _snapshot_code(dest: Path) -> Path:
    """Copy the gradconf package (code and YAML) to ``dest/gradconf``: every call replaces the working
    tree, and the driver and its workers must import one version of the code for the whole window."""
    package = Path(__file__).resolve().parent
    target = dest / "gradconf"
    tmp = dest / ".gradconf.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(package, tmp, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return dest


def start_driver(spec: DriverSpec, workdir: str | os.PathLike, *, start_timeout_s: float = 60.0) -> tuple[bool, int]:
    """Start the driver detached (a new process session: it outlives the call that started it), unless
    a live one already runs from ``workdir``; returns (started, pid) once the driver holds its lock and
    has written its status (RuntimeError with its log when it exits first; a driver still starting
    after ``start_timeout_s`` is left running and reported as started). The driver imports a snapshot
    of this gradconf taken now (``workdir/code``) and runs with ``workdir`` as its working folder. The
    caller checks the sweeps, preset and overrides first (``gradconf window start`` does)."""
    from .store import ResultStore

    workdir = Path(workdir).expanduser().resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if driver_alive(workdir):
        return False, int((read_status(workdir) or {}).get("pid", -1))
    ResultStore(spec.store).check_writable()
    code = _snapshot_code(workdir / CODE_DIR)
    (workdir / STATUS_FILE).unlink(missing_ok=True)
    (workdir / "spec.json").write_text(json.dumps(spec.__dict__))
    log_path = workdir / LOG_FILE
    offset = log_path.stat().st_size if log_path.exists() else 0
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(code))
    with open(log_path, "a") as log:
        proc = subprocess.Popen([sys.executable, "-m", "gradconf", "window", "drive", "--workdir", str(workdir)],
                                cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)
    deadline = time.monotonic() + start_timeout_s
    while (read_status(workdir) or {}).get("pid") != proc.pid:  # written once it holds the lock
        if proc.poll() is not None:
            with open(log_path, "rb") as f:
                f.seek(offset)
                tail = f.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"the window driver exited at once (status {proc.poll()}); its log says:\n{tail}")
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return True, proc.pid


def drive(workdir: str | os.PathLike, *, poll_s: float = 10.0) -> int:
    """The driver (what ``start`` runs detached): hold the lock, seed the store, wait for the data, then
    run each sweep with ``gradconf run``; a failed sweep is logged and the next one runs. Returns 1 if
    any failed, 3 when another driver already holds this workdir."""
    workdir = Path(workdir).expanduser()
    with open(workdir / LOCK_FILE, "a") as lock:  # held while the driver runs
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("another window driver holds this workdir; this one stops", flush=True)
            return 3
        return _drive_locked(workdir, poll_s)


def _drive_locked(workdir: Path, poll_s: float) -> int:
    raw = json.loads((workdir / "spec.json").read_text())
    spec = DriverSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
    _write_status(workdir, pid=os.getpid(), state="starting", started=time.time(), sweeps=list(spec.sweeps),
                  code=str(Path(__file__).resolve().parent))

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    try:
        from . import cli
        from .store import merge_archives
        from .sweeps import sweep_configs

        log(f"gradconf from {Path(__file__).resolve().parent}")
        if spec.seed_from and Path(spec.seed_from).exists():
            log(f"seeded {spec.store} from {spec.seed_from}: {merge_archives([spec.seed_from], spec.store)}")
        datasets = {c.dataset for s in spec.sweeps for c in sweep_configs(s, spec.preset)}
        _write_status(workdir, state="waiting for data")
        wait_for_data(datasets, spec.data_root, poll_s=poll_s, log=log)
        failed = []
        for sweep in spec.sweeps:
            if spec.seed_from and Path(spec.seed_from).exists():  # checkpoints carried since the last merge
                merged = merge_archives([spec.seed_from], spec.store)
                if merged.added or merged.checkpoints_added:
                    log(f"merged {spec.seed_from} again: {merged}")
            _write_status(workdir, state=f"running {sweep}")
            log(f"gradconf {' '.join(spec.run_argv(sweep))}")
            try:
                code = cli.main(spec.run_argv(sweep))
            except Exception:  # e.g. a worker killed outright (BrokenProcessPool): the next sweep still runs
                log(f"{sweep} crashed:\n{traceback.format_exc()}")
                code = 1
            log(f"{sweep}: exit {code}")
            if code:
                failed.append(sweep)
        _write_status(workdir, state="failed" if failed else "done", failed=failed, finished=time.time())
        return 1 if failed else 0
    except BaseException as err:  # the status must never claim a driver that died is still running
        _write_status(workdir, state="failed", error=f"{type(err).__name__}: {err}", finished=time.time())
        raise


# --- there: handing records home ---------------------------------------------------------------

@dataclass
class Collected:
    """What :func:`collect` found: records exported, runs claimed in the window's store (queued or
    running), and the driver's state."""

    exported: int
    archive: str | None
    claimed: int
    finished_in_store: int
    state: str
    waited_s: float
    checkpoints: list[str] | None = None
    checkpoints_left: list[str] | None = None

    def __str__(self) -> str:
        where = f" to {self.archive}" if self.archive else ""
        lines = [f"driver: {self.state}; waited {self.waited_s:.0f} s",
                 *(["the driver still waits for its data: carry the missing pieces (window receive), then collect"]
                   if self.state in ("starting", "waiting for data") else []),
                 f"exported {self.exported} record(s) the committed store lacks{where} "
                 f"({self.finished_in_store} in the window's store)"]
        if self.claimed:
            lines.append(f"{self.claimed} run(s) claimed by the driver (queued or under way; resumed from their "
                         "checkpoints when those come home, else computed again)")
        if self.checkpoints is not None:
            lines.append(f"exported the checkpoints of {len(self.checkpoints)} unfinished run(s)"
                         + (f"; {len(self.checkpoints_left)} left out for room: {', '.join(self.checkpoints_left)}"
                            if self.checkpoints_left else ""))
        return "\n".join(lines)


def collect(store: str | os.PathLike, archive: str | os.PathLike, *, workdir: str | os.PathLike,
            committed: str | os.PathLike | None = None, wait_s: float = 0.0, poll_s: float = 5.0,
            export_every_s: float = 60.0, data_grace_s: float = 30.0, partial_out: str | os.PathLike | None = None,
            partial_budget_bytes: int | None = None) -> Collected:
    """Wait up to ``wait_s`` (less when the driver ends first), exporting every record in ``store`` that
    ``committed`` lacks into ``archive`` every ``export_every_s`` while waiting and once at the end.
    With ``partial_out``, the checkpoints of the store's unfinished runs that are newer than
    ``committed``'s are exported at the end too, before the last records (a run that finishes in between
    is then in the records), as parts ``<partial_out>.NNofMM`` within ``partial_budget_bytes`` (default:
    what a call may bring back, less the records' archive and :data:`RETURN_RESERVE_BYTES`;
    :meth:`ResultStore.export_checkpoints`).

    The archive is cumulative and each export is written under a temporary name and renamed, so a call
    killed at any moment (a borrowed machine cuts a call short when its time runs out) leaves the latest
    complete archive and never a truncated one; nothing is written when there is no new record. A driver
    still waiting for its data after ``data_grace_s`` has nothing to hand home until more pieces are
    carried, so the wait ends there instead of spending the call."""
    from .store import ResultStore

    start = time.monotonic()
    window = ResultStore(store)
    known = set(ResultStore(committed).keys()) if committed else set()
    archive = Path(archive)
    exported: list[str] = []

    def export_new() -> None:
        nonlocal exported
        new = [k for k in window.keys() if k not in known]
        if new and new != exported:
            tmp = archive.with_name(f".{archive.name}.part")
            window.export(tmp, new)
            os.replace(tmp, archive)
            exported = new

    export_new()  # at once: a call cut short in its first minute still hands home what is there
    last_export = start
    while (elapsed := time.monotonic() - start) < wait_s and driver_alive(workdir):
        if (elapsed >= data_grace_s
                and (read_status(workdir) or {}).get("state") in ("starting", "waiting for data")):
            break
        time.sleep(min(poll_s, max(0.0, wait_s - elapsed)))
        if time.monotonic() - last_export >= export_every_s:
            export_new()
            last_export = time.monotonic()
    waited = time.monotonic() - start
    packed = left = None
    if partial_out is not None:
        if partial_budget_bytes is None:
            # the final records' archive is a little larger than the last one: keep a quarter more for it
            records = archive.stat().st_size if archive.exists() else 0
            partial_budget_bytes = RETURN_LIMIT_BYTES - RETURN_RESERVE_BYTES - int(1.25 * records) - 2**20
        packed, left = window.export_checkpoints(partial_out, budget_bytes=partial_budget_bytes,
                                                 baseline=ResultStore(committed) if committed else None)
    export_new()
    alive = driver_alive(workdir)
    claimed = len(list(window.runs.glob("*.claim"))) if window.runs.is_dir() and alive else 0
    status = read_status(workdir) or {}
    state = status.get("state", "never started")
    if status.get("state") not in (None, "done", "failed") and not alive:
        state = f"gone (last state: {status.get('state')})"
    if status.get("error"):
        state += f" ({status['error']})"
    return Collected(len(exported), str(archive) if exported else None, claimed, len(window.keys()), state, waited,
                     packed, left)


__all__ = ["CALL_LIMIT_BYTES", "CALL_MAX_PATHS", "Collected", "CorruptPieceError", "DriverSpec", "RETURN_LIMIT_BYTES",
           "RETURN_RESERVE_BYTES", "Received",
           "carry_plan", "collect", "dataset_files", "drive", "driver_alive", "git_ignored", "missing_files", "read_status", "receive",
           "repo_root", "stage", "start_driver", "tree_bytes", "wait_for_data"]

"""The result store: one compact JSON file per finished run, committed to git, merged from archives.

Layout: ``<store>/runs/<key>.json``; an unfinished run's checkpoint is ``<store>/partial/<key>.pt``
(:mod:`gradconf.checkpoint`; never committed). A record is written atomically (temp file + fsync + rename), with
mode 0644, and is *valid* only when it parses, has the record schema and its ``key`` matches its file
name; anything else (a truncated copy, an empty file, a stray JSON) is reported with its path and never
counts as a finished run. While a run is computing, its ``<key>.claim`` file (pid, host) keeps a second
driver on the same store from computing it twice; a claim whose process is gone is taken over.

Archives carry records between machines (a GPU window, a cluster): :meth:`ResultStore.export` packs
records into one ``.tar.gz``; :func:`merge_archives` adds the valid records of archives or folders to a
store, refusing none silently: it reports what it added, what it already had, and what it rejected.
"""
from __future__ import annotations

import json
import math
import os
import socket
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Top-level fields of a run record, and the fields its ``result`` must have.
RECORD_FIELDS: tuple[str, ...] = ("key", "config", "result", "provenance")
RESULT_FIELDS: tuple[str, ...] = ("status", "model_name", "n_params", "epochs")

#: Significant digits kept for every float of a record's ``result`` (float32 carries about 7).
SIGNIFICANT_DIGITS = 6


class InvalidRecordError(ValueError):
    """A file in a store that is not a valid run record; the message names the file and the fault."""


def round_floats(value: Any, digits: int = SIGNIFICANT_DIGITS) -> Any:
    """``value`` with every finite float rounded to ``digits`` significant digits (NaN/inf kept), so
    records stay compact and a last-bit change of a kernel does not change a stored number."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}") if math.isfinite(value) else value
    if isinstance(value, dict):
        return {k: round_floats(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [round_floats(v, digits) for v in value]
    return value


def check_record(record: Any, where: str, key: str | None = None) -> dict[str, Any]:
    """``record`` if it has the run-record schema (and ``key``, when given), else InvalidRecordError."""
    if not isinstance(record, dict):
        raise InvalidRecordError(f"{where}: not a run record (a JSON {type(record).__name__}, not an object)")
    missing = [f for f in RECORD_FIELDS if f not in record]
    if missing:
        raise InvalidRecordError(f"{where}: not a run record (missing {', '.join(missing)})")
    result = record["result"]
    if not isinstance(result, dict) or any(f not in result for f in RESULT_FIELDS):
        raise InvalidRecordError(f"{where}: the record's result lacks {', '.join(RESULT_FIELDS)}")
    if not isinstance(result["epochs"], list) or not result["epochs"]:
        raise InvalidRecordError(f"{where}: the record holds no epochs")
    if key is not None and record["key"] != key:
        raise InvalidRecordError(f"{where}: the record's key {record['key']} does not match its file name")
    return record


def parse_record(text: str | bytes, where: str, key: str | None = None) -> dict[str, Any]:
    """A record parsed from JSON ``text``; InvalidRecordError (naming ``where``) when it is not one."""
    try:
        record = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InvalidRecordError(f"{where}: not valid JSON ({err.msg if hasattr(err, 'msg') else err})") from None
    return check_record(record, where, key)


def _write_atomic(dest: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.stem}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; records are shared files
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class MergeReport:
    """What :func:`merge_archives` did: keys added, keys already present, and rejected files with why."""

    added: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"added {len(self.added)}, already present {len(self.present)}, rejected {len(self.rejected)}"]
        lines += [f"  rejected: {r}" for r in self.rejected]
        return "\n".join(lines)


class ResultStore:
    """One JSON file per finished run under ``<path>/runs``; see the module docstring."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(os.path.expanduser(str(path)))
        self.runs = self.path / "runs"
        self.partial = self.path / "partial"

    def file(self, key: str) -> Path:
        return self.runs / f"{key}.json"

    def checkpoint_file(self, key: str) -> Path:
        """Where the unfinished run ``key`` keeps its training state (:mod:`gradconf.checkpoint`)."""
        return self.partial / f"{key}.pt"

    def checkpoints(self) -> list[Path]:
        """The checkpoint files of runs that have no valid record yet, by key."""
        if not self.partial.is_dir():
            return []
        return sorted(p for p in self.partial.glob("*.pt") if not self.has(p.stem))

    def check_writable(self) -> None:
        """Raise a one-line error now if records could not be written here (before any compute)."""
        if self.path.exists() and not self.path.is_dir():
            raise NotADirectoryError(f"result store {self.path} exists and is not a folder")
        try:
            self.runs.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise PermissionError(f"cannot create the result store {self.runs}: {err.strerror}") from None
        if not os.access(self.runs, os.W_OK | os.X_OK):
            raise PermissionError(f"result store {self.runs} is not writable")

    def invalid_reason(self, key: str) -> str | None:
        """Why the file of ``key`` is not a valid record (``None`` when it is, or is absent)."""
        path = self.file(key)
        if not path.is_file():
            return None
        try:
            parse_record(path.read_bytes(), str(path), key)
        except InvalidRecordError as err:
            return str(err)
        return None

    def has(self, key: str) -> bool:
        """Whether a *valid* record of ``key`` is stored (an invalid file does not count as finished)."""
        return self.file(key).is_file() and self.invalid_reason(key) is None

    def load(self, key: str) -> dict[str, Any]:
        path = self.file(key)
        return parse_record(path.read_bytes(), str(path), key)

    def save(self, record: dict[str, Any]) -> Path:
        check_record(record, f"record {record.get('key') if isinstance(record, dict) else record!r}")
        self.runs.mkdir(parents=True, exist_ok=True)
        dest = self.file(record["key"])
        _write_atomic(dest, json.dumps(record, sort_keys=True, separators=(",", ":")).encode())
        return dest

    # claims: one driver per run ----------------------------------------------------------------

    def claim(self, key: str) -> bool:
        """Claim ``key`` for this process; False when another live process on this host holds it."""
        self.runs.mkdir(parents=True, exist_ok=True)
        path = self.runs / f"{key}.claim"
        me = {"pid": os.getpid(), "host": socket.gethostname()}
        for _ in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    holder = json.loads(path.read_text())
                except (OSError, json.JSONDecodeError):
                    holder = {}
                same_host = holder.get("host") == me["host"]
                if same_host and isinstance(holder.get("pid"), int) and _process_alive(holder["pid"]):
                    return holder["pid"] == me["pid"]
                if not same_host and holder:
                    return False  # another machine's claim: it cannot be checked from here
                path.unlink(missing_ok=True)  # its process is gone: take the run over
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            return True
        return False

    def release(self, key: str) -> None:
        (self.runs / f"{key}.claim").unlink(missing_ok=True)

    # reading, exporting -----------------------------------------------------------------------

    def keys(self) -> list[str]:
        return sorted(p.stem for p in self.runs.glob("*.json")) if self.runs.is_dir() else []

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Every valid record; an invalid file raises InvalidRecordError naming it."""
        for key in self.keys():
            yield self.load(key)

    def records(self, configs: Iterable[Any]) -> list[dict[str, Any]]:
        """The stored records of ``configs``, in order; raises KeyError naming any not yet run."""
        configs = list(configs)
        missing = [c.key for c in configs if not self.has(c.key)]
        if missing:
            raise KeyError(f"{len(missing)} of {len(configs)} runs are not in {self.path} (first: {missing[0]})")
        return [self.load(c.key) for c in configs]

    def export(self, archive: str | os.PathLike, keys: Iterable[str] | None = None) -> int:
        """Pack the records of ``keys`` (default: all) into ``archive`` (.tar.gz); returns how many."""
        keys = self.keys() if keys is None else list(keys)
        archive = Path(archive)
        archive.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive, "w:gz") as tar:
            for key in keys:
                tar.add(self.file(key), arcname=f"runs/{key}.json")
        return len(keys)


def _archive_members(source: Path) -> Iterator[tuple[str, str, bytes]]:
    """(where, key, bytes) of every ``*.json`` in a folder (its ``runs/`` or itself) or a tar archive."""
    if source.is_dir():
        folder = source / "runs" if (source / "runs").is_dir() else source
        for path in sorted(folder.glob("*.json")):
            yield str(path), path.stem, path.read_bytes()
        return
    with tarfile.open(source) as tar:
        for member in tar:  # streamed: the members before a truncation still come out
            if member.isfile() and member.name.endswith(".json"):
                data = tar.extractfile(member)
                yield f"{source}:{member.name}", Path(member.name).stem, data.read() if data else b""


def merge_archives(sources: Iterable[str | os.PathLike], store: ResultStore | str | os.PathLike) -> MergeReport:
    """Add every valid record of ``sources`` (``.tar.gz`` archives or store folders) to ``store``.

    A record already in the store is left as it is (same key = same config and compute version); an
    invalid file is rejected with its reason, and a valid store file is never overwritten by it. An
    archive that breaks off (a truncated copy) gives the records before the break and one rejection.
    """
    store = store if isinstance(store, ResultStore) else ResultStore(store)
    report = MergeReport()
    for source in sources:
        source = Path(source)
        if not source.exists():
            raise FileNotFoundError(f"nothing to merge at {source}")
        read = 0
        try:
            for where, key, data in _archive_members(source):
                read += 1
                try:
                    record = parse_record(data, where, key)
                except InvalidRecordError as err:
                    report.rejected.append(str(err))
                    continue
                if store.has(key):
                    report.present.append(key)
                else:
                    store.save(record)
                    report.added.append(key)
        except (tarfile.TarError, EOFError, OSError) as err:  # a truncated or corrupt archive
            report.rejected.append(f"{source}: unreadable after {read} member(s), which were merged "
                                   f"({type(err).__name__}: {err})")
    return report


def read_archive(archive: str | os.PathLike) -> list[dict[str, Any]]:
    """The valid records in ``archive`` (for inspection); invalid members raise InvalidRecordError."""
    return [parse_record(data, where, key) for where, key, data in _archive_members(Path(archive))]


__all__ = ["InvalidRecordError", "MergeReport", "ResultStore", "check_record", "merge_archives", "parse_record",
           "read_archive", "round_floats"]

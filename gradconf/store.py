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
Checkpoints of unfinished runs travel too (:meth:`ResultStore.export_checkpoints`): one uncompressed tar
cut into numbered parts (``NAME.00of03``, ``NAME.01of03``, ...) small enough for a transfer limit; given
every part, :func:`merge_archives` puts each checkpoint into the store's ``partial/`` unless the store has
the run's record or a checkpoint of the same or a later epoch, and it deletes the checkpoint of every run
whose record it adds or finds.
"""
from __future__ import annotations

import io
import json
import math
import os
import re
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
    """What :func:`merge_archives` did: keys added, keys already present, and rejected files with why;
    checkpoints added (or replaced by a later epoch's) and kept out (finished run, or an epoch no later
    than the store's own)."""

    added: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    checkpoints_added: list[str] = field(default_factory=list)
    checkpoints_kept_out: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"added {len(self.added)}, already present {len(self.present)}, rejected {len(self.rejected)}"]
        if self.checkpoints_added or self.checkpoints_kept_out:
            lines.append(f"checkpoints of unfinished runs: added {len(self.checkpoints_added)}, kept out "
                         f"{len(self.checkpoints_kept_out)} (run finished, or the store's is as recent)")
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

    def export_checkpoints(self, prefix: str | os.PathLike, *, budget_bytes: int, part_bytes: int = 15 * 2**20,
                           baseline: "ResultStore | None" = None) -> tuple[list[str], list[str]]:
        """Pack the checkpoints of unfinished runs into one tar cut into parts ``<prefix>.00ofNN``,
        ``.01ofNN``, ... of at most ``part_bytes`` each, while the tar stays within ``budget_bytes``;
        returns (keys packed, keys left out for room). A checkpoint no later than ``baseline``'s of the
        same run (e.g. the committed store it was carried from) is not new and is skipped; the others
        go by the epochs they add to the baseline's, most first. Every part is written under a temporary
        name, then each is renamed; parts of an earlier export with that prefix are removed first, and
        the part count in every name lets a reader tell a complete set."""
        from .checkpoint import checkpoint_epoch

        prefix = Path(prefix)
        prefix.parent.mkdir(parents=True, exist_ok=True)
        snapshots = []
        for path in self.checkpoints():
            try:  # read once: a run may replace its checkpoint, or finish and delete it, meanwhile
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            epoch = checkpoint_epoch(io.BytesIO(data))
            known = baseline.checkpoint_file(path.stem) if baseline is not None else None
            start = checkpoint_epoch(known) if known is not None and known.is_file() else 0
            if epoch > start:
                snapshots.append((start - epoch, path.name, data))
        packed: list[str] = []
        left: list[str] = []
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for _, name, data in sorted(snapshots):  # the most advanced runs first
                # a tar member costs its size rounded up to 512-byte blocks plus a header block
                cost = -(-len(data) // 512) * 512 + 512
                if buffer.tell() + cost + tarfile.RECORDSIZE > budget_bytes:  # the end blocks and padding
                    left.append(Path(name).stem)
                    continue
                info = tarfile.TarInfo(f"partial/{name}")
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
                packed.append(Path(name).stem)
        for old in _parts(prefix):
            old.unlink()
        if not packed:
            return packed, left
        data = buffer.getvalue()
        pieces = [data[i:i + part_bytes] for i in range(0, len(data), part_bytes)]
        if len(pieces) > 99:
            raise ValueError(f"{len(pieces)} parts of {part_bytes} bytes: more than a part name can number")
        tmps = []
        for i, piece in enumerate(pieces):
            tmp = prefix.with_name(f".{prefix.name}.{i:02d}.part")
            tmp.write_bytes(piece)
            tmps.append(tmp)
        for i, tmp in enumerate(tmps):
            os.replace(tmp, prefix.with_name(f"{prefix.name}.{i:02d}of{len(pieces):02d}"))
        return packed, left

    def add_checkpoint(self, key: str, data: bytes, where: str) -> bool:
        """Store the checkpoint ``data`` of run ``key`` unless the run is finished here or the store holds
        a checkpoint of the same or a later epoch; returns whether it was stored. InvalidRecordError when
        ``data`` is not a checkpoint of run ``key``."""
        from .checkpoint import CheckpointError, checkpoint_epoch, read_checkpoint

        try:
            state = read_checkpoint(io.BytesIO(data), where, key=key)
        except CheckpointError as err:
            raise InvalidRecordError(str(err)) from None
        mine = self.checkpoint_file(key)
        if self.has(key) or (mine.is_file() and checkpoint_epoch(mine) >= int(state["epoch"])):
            return False
        self.partial.mkdir(parents=True, exist_ok=True)
        _write_atomic(mine, data)
        return True

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


_PART = re.compile(r"^(?P<stem>.+)\.(?P<index>\d{2})of(?P<count>\d{2})$")


def _parts(prefix: Path) -> list[Path]:
    """The parts ``<prefix>.NNofMM`` that exist, in order."""
    if not prefix.parent.is_dir():
        return []
    found = [p for p in prefix.parent.iterdir() if (m := _PART.match(p.name)) and m["stem"] == prefix.name]
    return sorted(found)


def checkpoint_parts(prefix: str | os.PathLike) -> list[Path]:
    """The parts ``<prefix>.00ofNN``, ``<prefix>.01ofNN``, ... of a checkpoint export that exist, in order."""
    return _parts(Path(prefix))


def _checkpoint_members(sources: list[Path], report: MergeReport) -> Iterator[tuple[str, str, bytes]]:
    """(where, key, bytes) of every checkpoint in store folders (their ``partial/``) and in groups of
    parts ``NAME.NNofMM`` (joined in order; a group without all its MM parts is rejected whole)."""
    groups: dict[Path, list[Path]] = {}
    for source in sources:
        if source.is_dir():
            for path in sorted((source / "partial").glob("*.pt")):
                yield str(path), path.stem, path.read_bytes()
        elif m := _PART.match(source.name):
            groups.setdefault(source.with_name(m["stem"]), []).append(source)
    for prefix, parts in groups.items():
        found = sorted((int(m["index"]), int(m["count"])) for m in (_PART.match(p.name) for p in parts))
        counts = {count for _, count in found}
        if len(counts) != 1 or [i for i, _ in found] != list(range(next(iter(counts)))):
            report.rejected.append(f"{prefix}.NN: parts {[f'{i:02d}of{c:02d}' for i, c in found]} given, not "
                                   "one complete set; no checkpoint of it was merged")
            continue
        data = b"".join(p.read_bytes() for p in sorted(parts))
        try:
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                members = [(m.name, tar.extractfile(m).read()) for m in tar if m.isfile() and m.name.endswith(".pt")]
        except (tarfile.TarError, EOFError, OSError) as err:  # a lost last part reads as a truncated tar
            report.rejected.append(f"{prefix}.NN: unreadable ({type(err).__name__}: {err}); is a part missing?")
            continue
        for name, blob in members:
            yield f"{prefix}.NN:{name}", Path(name).stem, blob


def merge_archives(sources: Iterable[str | os.PathLike], store: ResultStore | str | os.PathLike) -> MergeReport:
    """Add every valid record of ``sources`` (``.tar.gz`` archives or store folders) to ``store``, and
    every checkpoint of an unfinished run (a folder's ``partial/``, or all parts ``NAME.00ofNN``,
    ``NAME.01ofNN``, ... of :meth:`ResultStore.export_checkpoints`) to its ``partial/``.

    A record already in the store is left as it is (same key = same config and compute version); an
    invalid file is rejected with its reason, and a valid store file is never overwritten by it. An
    archive that breaks off (a truncated copy) gives the records before the break and one rejection.
    A checkpoint goes in only if the store has neither the run's record nor a checkpoint of the same or
    a later epoch; checkpoints are merged after the records, and the store's checkpoint of every record
    added or already present is deleted.
    """
    store = store if isinstance(store, ResultStore) else ResultStore(store)
    report = MergeReport()
    sources = [Path(s) for s in sources]
    for source in sources:
        if not source.exists():
            raise FileNotFoundError(f"nothing to merge at {source}")
    for source in sources:
        if _PART.match(source.name) and not source.is_dir():
            continue  # a part of a checkpoint tar: below
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
    for key in [*report.added, *report.present]:  # a finished run needs its checkpoint no more
        store.checkpoint_file(key).unlink(missing_ok=True)
    for where, key, data in _checkpoint_members(sources, report):
        try:
            added = store.add_checkpoint(key, data, where)
        except InvalidRecordError as err:
            report.rejected.append(str(err))
            continue
        (report.checkpoints_added if added else report.checkpoints_kept_out).append(key)
    return report


def read_archive(archive: str | os.PathLike) -> list[dict[str, Any]]:
    """The valid records in ``archive`` (for inspection); invalid members raise InvalidRecordError."""
    return [parse_record(data, where, key) for where, key, data in _archive_members(Path(archive))]


__all__ = ["InvalidRecordError", "MergeReport", "ResultStore", "check_record", "checkpoint_parts", "merge_archives",
           "parse_record", "read_archive", "round_floats"]

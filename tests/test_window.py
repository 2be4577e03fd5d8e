"""The GPU-window commands (gradconf.window): carrying data in pieces, a driver that outlives calls,
and collecting only the records the committed store lacks. Everything here runs on the CPU."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest

from gradconf import window
from gradconf.store import merge_archives


def _md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()


A, B = b"first file of a toy dataset" * 100, b"second file" * 50
TOY = {"toy": ("toy-dir", {"a.bin": (_md5(A),), "b.bin": ("sha256:" + hashlib.sha256(B).hexdigest(),)})}


def _gradconf(*args: str, cwd: Path | None = None, timeout: float = 300, **popen) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gradconf", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, PYTHONUNBUFFERED="1"), **popen)


@pytest.fixture
def workdirs():
    """Window workdirs of a test; any driver still running from one is killed at teardown (with its
    workers: the driver leads its own process group), so a failing test leaks no process."""
    made: list[Path] = []
    yield made
    for wd in made:
        status = window.read_status(wd) or {}
        if window.driver_alive(wd) and isinstance(status.get("pid"), int):
            try:
                os.killpg(status["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass


def _members(archive: Path) -> list[str]:
    with tarfile.open(archive) as tar:
        return sorted(m.name for m in tar.getmembers())


# --- carrying data in pieces -----------------------------------------------------------------------

def test_carry_plan_keeps_every_call_under_the_limit(tmp_path):
    sizes = {"p1": 30, "p2": 30, "p3": 10, "p4": 5, "p5": 12}
    for name, kib in sizes.items():
        (tmp_path / name).write_bytes(b"x" * kib * 1024)
    tree, limit = 20 * 1024, 64 * 1024
    calls = window.carry_plan(sorted(tmp_path.iterdir()), tree, limit)
    flat = [p.name for call in calls for p in call]
    assert sorted(flat) == sorted(sizes)  # each file exactly once
    assert all(tree + sum(p.stat().st_size for p in call) <= limit for call in calls)
    assert len(calls) == 3  # 87 KiB of pieces in calls of 44 KiB of room cannot take fewer
    with pytest.raises(ValueError, match="p1.*cannot travel in one call"):
        window.carry_plan([tmp_path / "p1"], 40 * 1024, limit)


def test_tree_bytes_counts_what_a_call_sends(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("/ignored/\n")
    (tmp_path / "tracked.txt").write_bytes(b"t" * 1000)
    (tmp_path / "untracked.txt").write_bytes(b"u" * 300)
    (tmp_path / "ignored").mkdir()
    (tmp_path / "ignored" / "big.bin").write_bytes(b"i" * 5000)
    subprocess.run(["git", "add", "tracked.txt", ".gitignore"], cwd=tmp_path, check=True)
    assert window.tree_bytes(tmp_path) == 1000 + 300 + len("/ignored/\n")
    assert window.git_ignored(tmp_path, "ignored") and not window.git_ignored(tmp_path, "untracked.txt")


def test_stage_copies_verified_files_and_refuses_a_corrupt_source(tmp_path):
    src = tmp_path / "src" / "toy-dir"
    src.mkdir(parents=True)
    (src / "a.bin").write_bytes(A)
    (src / "b.bin").write_bytes(B)
    staged = window.stage("toy", tmp_path / "src", tmp_path / "carry", TOY)
    assert [p.read_bytes() for p in staged] == [A, B]
    assert staged[0] == tmp_path / "carry" / "toy-dir" / "a.bin"
    (src / "b.bin").write_bytes(B[:-1])
    with pytest.raises(window.CorruptPieceError, match="b.bin"):
        window.stage("toy", tmp_path / "src", tmp_path / "carry2", TOY)
    with pytest.raises(ValueError, match="unknown dataset"):
        window.stage("svhn", tmp_path / "src", tmp_path / "carry", TOY)


def test_receive_moves_verified_pieces_and_sets_broken_ones_aside(tmp_path):
    carried, root = tmp_path / "carried" / "toy-dir", tmp_path / "data"
    carried.mkdir(parents=True)
    (carried / "a.bin").write_bytes(A)
    got = window.receive(tmp_path / "carried", root, TOY)
    assert got.moved == ["toy/a.bin"] and got.missing == {"toy": ["b.bin"]} and not got.bad
    assert (root / "toy-dir" / "a.bin").read_bytes() == A and not (carried / "a.bin").exists()
    assert "still missing 1: b.bin" in str(got)

    (carried / "b.bin").write_bytes(B + b"!")  # a broken piece is renamed where it lies, never moved
    (carried / "a.bin").write_bytes(A)  # a good piece beside it still moves
    got = window.receive(tmp_path / "carried", root, TOY)
    assert got.bad == ["toy/b.bin"] and got.moved == ["toy/a.bin"] and got.missing == {"toy": ["b.bin"]}
    assert not (root / "toy-dir" / "b.bin").exists() and (carried / "b.bin.bad").exists()
    assert "CORRUPT" in str(got) and "carry it again" in str(got)

    (carried / "b.bin").write_bytes(B)  # carried again
    got = window.receive(tmp_path / "carried", root, TOY)
    assert got.moved == ["toy/b.bin"] and got.missing == {"toy": []}
    assert "complete and verified" in str(got)
    assert window.receive(tmp_path / "nothing", root, TOY).missing == {"toy": []}  # already there


def test_wait_for_data_blocks_until_every_file_is_verified(tmp_path):
    root = tmp_path / "data" / "toy-dir"
    root.mkdir(parents=True)
    (root / "a.bin").write_bytes(A)
    (root / "b.bin").write_bytes(b"truncated")  # present but wrong: still waited for
    messages: list[str] = []

    def arrive() -> None:
        time.sleep(0.3)
        (root / "b.bin").write_bytes(B)

    thread = threading.Thread(target=arrive)
    start = time.monotonic()
    thread.start()
    window.wait_for_data(["toy", "sphere"], tmp_path / "data", poll_s=0.02, log=messages.append, table=TOY)
    thread.join()
    assert time.monotonic() - start >= 0.3
    assert messages == ["waiting for data: toy lacks b.bin"]  # logged once, not at every poll


# --- the driver and collect ---------------------------------------------------------------------

SWEEP = ["init_linear", "--preset", "smoke", "--grid", "model.depth=[2]", "--set", "threads=1"]  # 3 tiny runs


def test_the_driver_outlives_its_call_and_a_second_start_starts_nothing(tmp_path, workdirs):
    """Started from a call whose process group is then killed (what the device tool does when a call
    returns), the driver lives on; it waits for MNIST, which never comes here, so it is reliably alive."""
    wd = tmp_path / "wd"
    workdirs.append(wd)
    args = ["window", "start", "mlp_depth", "--preset", "smoke", "--store", str(tmp_path / "s"), "--data-root",
            str(tmp_path / "empty"), "--device", "cpu", "--workdir", str(wd)]
    call = _gradconf(*args, start_new_session=True)  # the call: its own process group
    assert call.returncode == 0, call.stderr
    assert "started the window driver" in call.stdout
    pid = window.read_status(wd)["pid"]
    assert os.getpgid(pid) == pid != os.getpgid(os.getpid())  # the driver leads a group of its own
    deadline = time.monotonic() + 120
    while window.read_status(wd).get("state") != "waiting for data" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert window.read_status(wd)["state"] == "waiting for data" and window.driver_alive(wd)
    assert str(wd / "code") in window.read_status(wd)["code"]  # a snapshot, not the tree calls replace

    again = _gradconf(*args)
    assert again.returncode == 0 and "already runs" in again.stdout and f"pid {pid}" in again.stdout
    assert window.read_status(wd)["pid"] == pid and window.driver_alive(wd)

    got = window.collect(tmp_path / "s", tmp_path / "o.tar.gz", workdir=wd)
    assert got.state == "waiting for data" and got.exported == 0 and not (tmp_path / "o.tar.gz").exists()
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while window.driver_alive(wd) and time.monotonic() < deadline:
        time.sleep(0.1)
    got = window.collect(tmp_path / "s", tmp_path / "o.tar.gz", workdir=wd)
    assert got.state == "gone (last state: waiting for data)" and got.claimed == 0


def test_collect_hands_home_only_records_the_committed_store_lacks(tmp_path, workdirs):
    store, wd, committed = tmp_path / "window-store", tmp_path / "wd", tmp_path / "committed"
    workdirs.append(wd)
    start = _gradconf("window", "start", *SWEEP, "--store", str(store), "--data-root", str(tmp_path / "data"),
                      "--device", "cpu", "--workdir", str(wd), "--seed-from", str(committed))
    assert start.returncode == 0, start.stderr
    out = tmp_path / "out" / "new-runs.tar.gz"
    got = _gradconf("window", "collect", "--store", str(store), "--workdir", str(wd), "--committed",
                    str(committed), "--out", str(out), "--wait", "240", timeout=360)
    assert got.returncode == 0, got.stdout + got.stderr
    assert "driver: done" in got.stdout and "exported 3 record(s)" in got.stdout
    assert len(_members(out)) == 3 and not list(out.parent.glob(".*.part"))
    assert len(merge_archives([out], committed).added) == 3

    out.unlink()  # once home and committed, nothing is handed back twice
    got = _gradconf("window", "collect", "--store", str(store), "--workdir", str(wd), "--committed",
                    str(committed), "--out", str(out))
    assert "exported 0 record(s)" in got.stdout and not out.exists()

    # a later window starts from the committed store and recomputes nothing
    store2, wd2 = tmp_path / "store2", tmp_path / "wd2"
    workdirs.append(wd2)
    assert _gradconf("window", "start", *SWEEP, "--store", str(store2), "--data-root", str(tmp_path / "data"),
                     "--device", "cpu", "--workdir", str(wd2), "--seed-from", str(committed)).returncode == 0
    got = _gradconf("window", "collect", "--store", str(store2), "--workdir", str(wd2), "--committed",
                    str(committed), "--out", str(out), "--wait", "240", timeout=360)
    log = (wd2 / window.LOG_FILE).read_text()
    assert "added 3" in log and "ran 0, reused 3" in log
    assert "exported 0 record(s)" in got.stdout


def test_a_truncated_archive_merges_what_precedes_the_break(tmp_path, workdirs):
    wd = tmp_path / "wd"
    workdirs.append(wd)
    assert _gradconf("window", "start", *SWEEP, "--store", str(tmp_path / "s"), "--data-root", str(tmp_path),
                     "--device", "cpu", "--workdir", str(wd)).returncode == 0
    out = tmp_path / "new.tar.gz"
    window.collect(tmp_path / "s", out, workdir=wd, wait_s=240)
    data = out.read_bytes()
    out.write_bytes(data[: len(data) // 2])
    report = merge_archives([out], tmp_path / "home")
    assert len(report.rejected) == 1 and "unreadable after" in report.rejected[0]
    assert len(report.added) < 3
    got = _gradconf("merge", str(out), "--into", str(tmp_path / "home2"))
    assert got.returncode == 1 and "unreadable after" in got.stdout and "Traceback" not in got.stderr


def test_a_failing_sweep_is_logged_the_next_runs_and_collect_says_failed(tmp_path, capsys):
    """The driver itself, in this process: a sweep that exits non-zero is listed as failed and the next
    sweep still runs; a driver that raises records why. (``start`` refuses such inputs before it starts
    anything, so the driver is handed its spec directly.)"""
    import json

    wd = tmp_path / "wd"
    wd.mkdir()
    spec = window.DriverSpec(("init_linear", "init_linear"), "smoke", str(tmp_path / "s"), str(tmp_path / "d"),
                             "cpu", 1, None, ("--set", "model.depth=4"))  # an axis: every run exits 2
    (wd / "spec.json").write_text(json.dumps(spec.__dict__))
    assert window.drive(wd, poll_s=0.01) == 1
    status = window.read_status(wd)
    assert status["state"] == "failed" and status["failed"] == ["init_linear", "init_linear"]
    assert capsys.readouterr().out.count("init_linear: exit 2") == 2
    got = _gradconf("window", "collect", "--store", str(tmp_path / "s"), "--workdir", str(wd), "--out",
                    str(tmp_path / "o.tar.gz"))
    assert got.returncode == 1 and "driver: failed" in got.stdout

    (wd / "spec.json").write_text(json.dumps({**spec.__dict__, "sweeps": ["no_such_sweep"]}))
    with pytest.raises(ValueError, match="no_such_sweep"):
        window.drive(wd, poll_s=0.01)
    status = window.read_status(wd)
    assert status["state"] == "failed" and "no_such_sweep" in status["error"]
    assert "ValueError" in str(window.collect(tmp_path / "s", tmp_path / "o.tar.gz", workdir=wd))


@pytest.mark.parametrize("bad, says", [(["no_such_sweep"], "no_such_sweep"),
                                       (["init_linear", "--set", "model.depth=4"], "a sweep axis"),
                                       (["init_linear", "--set", "train.no_such_field=1"], "no_such_field"),
                                       (["init_linear", "--set", "measure.probe_size=4096"], "exceeds n_train"),
                                       (["init_linear", "--workers", "0"], "--workers"),
                                       (["init_linear", "--device", "cuda:99"], "cuda:99")])
def test_start_checks_its_inputs_before_starting_anything(tmp_path, bad, says):
    got = _gradconf("window", "start", "--device", "cpu", *bad, "--preset", "smoke", "--store", str(tmp_path / "s"),
                    "--data-root", str(tmp_path / "d"), "--workdir", str(tmp_path / "wd"))
    assert got.returncode == 2 and says in got.stderr, got.stderr
    assert window.read_status(tmp_path / "wd") is None


def _copy_records(dest: Path, n: int) -> list[str]:
    """``n`` committed records of the book's store, copied into the store at ``dest``."""
    import shutil

    sources = sorted((Path(__file__).resolve().parents[1] / "results" / "book" / "runs").glob("*.json"))[:n]
    (dest / "runs").mkdir(parents=True, exist_ok=True)
    for path in sources:
        shutil.copy(path, dest / "runs" / path.name)
    return [p.stem for p in sources]


def test_collect_exports_while_it_waits_so_a_call_cut_short_keeps_its_records(tmp_path, monkeypatch):
    store, wd, out = tmp_path / "store", tmp_path / "wd", tmp_path / "out" / "new-runs.tar.gz"
    keys = _copy_records(store, 2)
    seen_mid_wait = []

    def alive(_workdir):  # a driver that runs for the whole wait; note whether the archive is home yet
        seen_mid_wait.append(out.exists() and len(_members(out)))
        if len(seen_mid_wait) == 4:  # a record finishes mid-wait: the next export holds it too
            _copy_records(store, 3)
        return True

    monkeypatch.setattr(window, "driver_alive", alive)
    monkeypatch.setattr(window, "read_status", lambda _wd: {"state": "running cnn_depth"})
    got = window.collect(store, out, workdir=wd, wait_s=0.6, poll_s=0.05, export_every_s=0.1)
    assert got.waited_s >= 0.6 and got.exported == 3 and len(_members(out)) == 3
    # exported during the wait (a kill then would have left these), not only at the end
    assert 2 in seen_mid_wait[:-1] and 3 in seen_mid_wait[:-1], seen_mid_wait
    assert not list(out.parent.glob(".*.part")) and set(keys) <= {Path(m).stem for m in _members(out)}


def test_collect_stops_waiting_while_the_driver_still_waits_for_data(tmp_path, monkeypatch):
    monkeypatch.setattr(window, "driver_alive", lambda _wd: True)
    monkeypatch.setattr(window, "read_status", lambda _wd: {"state": "waiting for data"})
    got = window.collect(tmp_path / "s", tmp_path / "o.tar.gz", workdir=tmp_path / "wd", wait_s=60, poll_s=0.05,
                         data_grace_s=0.2)
    assert 0.2 <= got.waited_s < 5 and got.exported == 0 and not (tmp_path / "o.tar.gz").exists()
    assert "carry the missing pieces" in str(got)


def test_a_sweep_that_crashes_does_not_stop_the_driver(tmp_path, monkeypatch, capsys):
    import json

    from gradconf import cli

    calls = []

    def main(argv):
        calls.append(argv[1])
        if len(calls) == 1:  # what a worker killed outright raises from the pool
            raise RuntimeError("A process in the process pool was terminated abruptly")
        return 0

    monkeypatch.setattr(cli, "main", main)
    wd = tmp_path / "wd"
    wd.mkdir()
    spec = window.DriverSpec(("init_linear", "init_mnist"), "smoke", str(tmp_path / "s"), str(tmp_path / "d"), "cpu")
    (wd / "spec.json").write_text(json.dumps(spec.__dict__))
    monkeypatch.setattr(window, "wait_for_data", lambda *a, **k: None)
    assert window.drive(wd, poll_s=0.01) == 1
    assert calls == ["init_linear", "init_mnist"]
    status = window.read_status(wd)
    assert status["state"] == "failed" and status["failed"] == ["init_linear"]
    out = capsys.readouterr().out
    assert "init_linear crashed" in out and "terminated abruptly" in out and "init_mnist: exit 0" in out


def test_collect_before_any_driver_says_so(tmp_path):
    got = window.collect(tmp_path / "s", tmp_path / "o.tar.gz", workdir=tmp_path / "wd", wait_s=5)
    assert got.state == "never started" and got.exported == 0 and got.waited_s < 1


def test_stage_refuses_a_folder_git_would_send(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    got = _gradconf("window", "stage", "mnist", "--into", "carry", cwd=tmp_path)
    assert got.returncode == 2 and "not ignored by git" in got.stderr


def test_a_real_dataset_travels_in_pieces_and_the_driver_waits_for_it(tmp_path, real_data_root, workdirs,
                                                                       monkeypatch):
    """MNIST end to end: stage into an ignored folder, start a driver that waits for the data, carry
    the pieces, and collect the two smoke runs it then computes."""
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".gitignore").write_text("/.gpu/\n")
    staged = _gradconf("window", "stage", "mnist", "--data-root", str(real_data_root), "--limit-mib", "10",
                       cwd=repo)
    assert staged.returncode == 0, staged.stderr
    assert "travel in 2 call(s)" in staged.stdout  # 9.5 MiB of training images and 1.6 MiB of test images: two 10 MiB calls
    carried = repo / ".gpu"

    assert "GRADCONF_GIT_COMMIT=" in staged.stdout  # what to tell the driver, whose tree has no .git
    data, wd, store = tmp_path / "data", tmp_path / "wd", tmp_path / "store"
    workdirs.append(wd)
    monkeypatch.setenv("GRADCONF_GIT_COMMIT", "0123abc-told")
    assert _gradconf("window", "start", "mlp_depth", "--preset", "smoke", "--set", "threads=1", "--store",
                     str(store), "--data-root", str(data), "--device", "cpu", "--workdir", str(wd)).returncode == 0
    deadline = time.monotonic() + 60
    while window.read_status(wd).get("state") != "waiting for data" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert window.read_status(wd)["state"] == "waiting for data"

    images = carried / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    held_back = tmp_path / "held-back.gz"
    images.rename(held_back)  # the first call carries everything else
    got = _gradconf("window", "receive", str(carried), "--data-root", str(data))
    assert got.returncode == 0 and "still missing 1: train-images-idx3-ubyte.gz" in got.stdout
    time.sleep(0.5)
    assert window.read_status(wd)["state"] == "waiting for data"
    held_back.rename(images)  # the second call
    got = _gradconf("window", "receive", str(carried), "--data-root", str(data))
    assert "mnist: complete and verified" in got.stdout

    out = tmp_path / "new.tar.gz"
    got = _gradconf("window", "collect", "--store", str(store), "--workdir", str(wd), "--out", str(out),
                    "--wait", "280", timeout=400)
    assert got.returncode == 0 and "driver: done" in got.stdout, got.stdout + (wd / window.LOG_FILE).read_text()
    assert len(_members(out)) == 2
    assert "waiting for data: mnist lacks" in (wd / window.LOG_FILE).read_text()
    import json

    with tarfile.open(out) as tar:  # the driver's code snapshot has no .git: the commit it was told
        commits = {json.load(tar.extractfile(m))["provenance"]["git_commit"] for m in tar.getmembers()}
    assert commits == {"0123abc-told"}


def _readme_commands() -> list[str]:
    """Every ``python -m gradconf ...`` command of README.md and the book's introduction (bash blocks,
    continuation lines joined, and inline code), with its comment and any shell after it cut off."""
    import re

    root = Path(__file__).resolve().parents[1]
    text = (root / "README.md").read_text() + (root / "book" / "intro.md").read_text()
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if m := re.search(r"python3? -m gradconf\s+(.*)", line):
                found.append(m.group(1))
    found += re.findall(r"`python3? -m gradconf ([^`]*)`", text)
    return [re.split(r"\s+#|\s*\|\s|\s*&&|;", c)[0].strip() for c in found]


def test_every_gradconf_command_in_the_readme_and_the_introduction_parses(monkeypatch):
    """The runbook of a GPU window is run by hand, one call at a time, on a machine that is given back
    after 30 s idle: a flag that has drifted from the CLI must fail here, not there."""
    import shlex

    from gradconf import cli

    seen = []
    monkeypatch.setattr(cli, "_dispatch", lambda args: seen.append(args) or 0)
    import re

    shell = {"$W": "/w", "$((540 - SECONDS))": "500", "$K": "4", "FILES_AT": "/files"}
    commands = _readme_commands()
    assert len(commands) >= 15 and any(c.startswith("window collect") for c in commands)
    for command in commands:
        for name, value in shell.items():
            command = command.replace(name, value)
        argv = shlex.split(re.sub(r'"\$OUT/([^"]*)"', r"/out/\1", command))
        try:
            assert cli.main(argv) == 0, command
        except SystemExit as exit_:  # argparse refused it
            raise AssertionError(f"README command does not parse: gradconf {command}") from exit_
    assert len(seen) == len(commands)


# --- checkpoints of unfinished runs travel both ways ---------------------------------------------------

def _checkpoint_store(store: Path, seeds: dict[int, int]) -> list[str]:
    """Unfinished sphere runs in ``store`` (seed -> the epoch after which each stopped); their keys."""
    from test_checkpoint import interrupted

    from gradconf.store import ResultStore

    return [c.key for c in interrupted(ResultStore(store), seeds).values()]


def test_carry_plan_sends_checkpoints_in_the_first_calls(tmp_path):
    for name, kib in {"d1": 30, "d2": 30, "d3": 30, "c1": 10, "c2": 25}.items():
        (tmp_path / name).write_bytes(b"x" * kib * 1024)
    data = [tmp_path / n for n in ("d1", "d2", "d3")]
    calls = window.carry_plan(data, 20 * 1024, 64 * 1024, first=[tmp_path / "c1", tmp_path / "c2"])
    names = [[p.name for p in call] for call in calls]
    assert names[0][:2] == ["c2", "c1"] and sum(len(c) for c in names) == 5
    assert all(20 * 1024 + sum(p.stat().st_size for p in call) <= 64 * 1024 for call in calls)


def test_carry_plan_keeps_to_the_paths_a_call_may_carry(tmp_path):
    for i in range(12):
        (tmp_path / f"c{i:02d}").write_bytes(b"x" * 1024)
    calls = window.carry_plan(sorted(tmp_path.iterdir()), 0, 64 * 1024, max_paths=8)
    assert [len(c) for c in calls] == [8, 4]


def test_collect_exports_checkpoints_before_the_last_records(tmp_path, monkeypatch):
    """A run that finishes while the checkpoints are exported deletes its checkpoint: its record must
    still come home, so the last records are exported after the checkpoints."""
    from gradconf.store import ResultStore

    real = ResultStore.export_checkpoints

    def a_run_finishes_meanwhile(self, *a, **k):
        out = real(self, *a, **k)
        _copy_records(tmp_path / "store", 2)
        return out

    monkeypatch.setattr(ResultStore, "export_checkpoints", a_run_finishes_meanwhile)
    monkeypatch.setattr(window, "driver_alive", lambda _wd: False)
    _copy_records(tmp_path / "store", 1)
    got = window.collect(tmp_path / "store", tmp_path / "o.tar.gz", workdir=tmp_path / "wd",
                         partial_out=tmp_path / "p.tar")
    assert got.exported == 2 and len(_members(tmp_path / "o.tar.gz")) == 2


def test_collect_hands_home_the_checkpoints_of_unfinished_runs(tmp_path, monkeypatch):
    from gradconf.store import checkpoint_parts, merge_archives

    store, out = tmp_path / "store", tmp_path / "out"
    keys = _checkpoint_store(store, {1: 2, 2: 1})
    monkeypatch.setattr(window, "driver_alive", lambda _wd: False)
    monkeypatch.setattr(window, "read_status", lambda _wd: {"state": "done"})
    got = window.collect(store, out / "new-runs.tar.gz", workdir=tmp_path / "wd", partial_out=out / "partial.tar")
    assert got.checkpoints == keys and got.checkpoints_left == []
    assert "checkpoints of 2 unfinished run(s)" in str(got)
    report = merge_archives(checkpoint_parts(out / "partial.tar"), tmp_path / "home")
    assert sorted(report.checkpoints_added) == sorted(keys)
    got = window.collect(store, out / "new-runs.tar.gz", workdir=tmp_path / "wd", partial_out=out / "partial.tar",
                         partial_budget_bytes=1024)
    assert got.checkpoints == [] and got.checkpoints_left == keys and "left out for room" in str(got)


def test_merge_cli_takes_checkpoint_parts_and_says_when_there_are_none(tmp_path):
    from gradconf.store import ResultStore

    keys = _checkpoint_store(tmp_path / "there", {1: 1})
    ResultStore(tmp_path / "there").export_checkpoints(tmp_path / "partial.tar", budget_bytes=2**24)
    got = _gradconf("merge", "--partial", str(tmp_path / "partial.tar"), "--into", str(tmp_path / "home"))
    assert got.returncode == 0, got.stderr
    assert "1 checkpoint part(s)" in got.stdout and "checkpoints of unfinished runs: added 1" in got.stdout
    assert [p.name for p in sorted(tmp_path.glob("partial.tar.*"))] == ["partial.tar.00of01"]
    assert ResultStore(tmp_path / "home").checkpoint_file(keys[0]).is_file()
    got = _gradconf("merge", "--partial", str(tmp_path / "none.tar"), "--into", str(tmp_path / "home"))
    assert got.returncode == 2 and "nothing to merge" in got.stderr and "0 checkpoint part(s)" in got.stdout


def test_the_driver_merges_checkpoints_that_arrive_with_the_data(tmp_path, monkeypatch):
    import json

    from gradconf import cli
    from gradconf.store import ResultStore

    seed, store = tmp_path / "committed", tmp_path / "window-store"
    ResultStore(seed).check_writable()
    carried = tmp_path / "carried"
    keys = _checkpoint_store(carried, {1: 2})
    seen = []
    monkeypatch.setattr(cli, "main", lambda argv: seen.append(sorted(ResultStore(store).checkpoints())) or 0)

    def data_arrive(*a, **k):  # the checkpoint is carried into the committed store's partial/ meanwhile
        (seed / "partial").mkdir()
        for path in (carried / "partial").iterdir():
            (seed / "partial" / path.name).write_bytes(path.read_bytes())

    monkeypatch.setattr(window, "wait_for_data", data_arrive)
    wd = tmp_path / "wd"
    wd.mkdir()
    spec = window.DriverSpec(("init_linear",), "smoke", str(store), str(tmp_path / "d"), "cpu", seed_from=str(seed))
    (wd / "spec.json").write_text(json.dumps(spec.__dict__))
    assert window.drive(wd, poll_s=0.01) == 0
    assert [[p.stem for p in found] for found in seen] == [keys]  # there before the sweep started


def test_stage_plans_the_checkpoints_of_unfinished_runs_first(tmp_path, real_data_root):
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".gitignore").write_text("/.gpu/\nresults/*/partial/\n")
    keys = _checkpoint_store(repo / "results" / "gpu", {1: 1})
    got = _gradconf("window", "stage", "mnist", "--data-root", str(real_data_root), "--limit-mib", "10",
                    "--checkpoints-from", "results/gpu", cwd=repo)
    assert got.returncode == 0, got.stderr
    assert "and 1 checkpoint(s) of unfinished runs in results/gpu" in got.stdout
    first_call = next(line for line in got.stdout.splitlines() if "call 1" in line)
    assert f"results/gpu/partial/{keys[0]}.pt" in first_call
    (repo / ".gitignore").write_text("/.gpu/\n")
    got = _gradconf("window", "stage", "mnist", "--data-root", str(real_data_root), "--limit-mib", "10",
                    "--checkpoints-from", "results/gpu", cwd=repo)
    assert got.returncode == 2 and "partial is not ignored by git" in got.stderr
    (repo / ".gitignore").write_text("/.gpu/\nresults/*/partial/\n")
    import torch

    path = repo / "results" / "gpu" / "partial" / f"{keys[0]}.pt"
    torch.save({**torch.load(path, weights_only=True), "config": None}, path)  # as if left by older code
    got = _gradconf("window", "stage", "mnist", "--data-root", str(real_data_root), "--limit-mib", "10",
                    "--checkpoints-from", "results/gpu", cwd=repo)
    assert got.returncode == 0 and "not carried, stale" in got.stdout and "partial/" not in got.stdout.split("stale")[1]

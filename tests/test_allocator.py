"""gradconf.allocator: glibc's malloc keeps freed memory for reuse in the runner's processes."""
from __future__ import annotations

import ctypes
import subprocess
import sys

import pytest

from gradconf import allocator


class FakeMallopt:
    """Stands in for the ctypes function (which takes argtypes and restype)."""

    def __init__(self, result: int):
        self.calls: list[tuple[int, int]] = []
        self.result = result

    def __call__(self, param, value):
        self.calls.append((param, value))
        return self.result


class FakeLibc:
    def __init__(self, result: int):
        self.mallopt = FakeMallopt(result)

    @property
    def calls(self):
        return self.mallopt.calls


def test_sets_both_thresholds_and_reports_success(monkeypatch):
    libc = FakeLibc(1)
    monkeypatch.setattr(allocator.sys, "platform", "linux")
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: libc)
    assert allocator.keep_freed_memory() is True
    assert libc.calls == [(allocator._M_MMAP_THRESHOLD, 32 << 20), (allocator._M_TRIM_THRESHOLD, 2**31 - 1)]


def test_reports_failure_and_other_platforms(monkeypatch):
    monkeypatch.setattr(allocator.sys, "platform", "linux")
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: FakeLibc(0))
    assert allocator.keep_freed_memory() is False

    class NoMallopt:  # musl
        pass
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: NoMallopt())
    assert allocator.keep_freed_memory() is False
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.keep_freed_memory() is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_applies_on_this_machine_in_a_fresh_process():
    """The real mallopt accepts both values (a fresh interpreter: the setting is process-wide)."""
    code = "from gradconf.allocator import keep_freed_memory; print(keep_freed_memory())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    libc_is_glibc = ctypes.util.find_library("c") is not None
    assert out == ("True" if libc_is_glibc else "False")


def test_the_runner_applies_it(monkeypatch):
    """Workers call it before each run (engines._run_record); results do not depend on it."""
    import gradconf.engines as engines
    import gradconf.experiment as experiment

    called = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: called.append(True) or True)
    monkeypatch.setattr(experiment, "run_one", lambda config, **kw: {"config": config})
    assert engines._run_record("cfg", None, None) == {"config": "cfg"}
    assert called == [True]

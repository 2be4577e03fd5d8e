"""The timing helpers behind the benchmark and the measurement chapter, on a scripted clock."""
from __future__ import annotations

import pytest

import gradconf.timing as timing


@pytest.fixture
def scripted_calls(monkeypatch):
    """Each call of the timed function lasts the next of the given durations (first: the warm-up)."""
    def install(durations):
        clock = {"now": 0.0}
        pending = list(durations)
        monkeypatch.setattr(timing.time, "perf_counter", lambda: clock["now"])

        def fn():
            clock["now"] += pending.pop(0)
        return fn
    return install


def test_fastest_and_median_of_the_timed_calls(scripted_calls):
    assert timing.fastest_seconds(scripted_calls([9.0, 3.0, 1.0, 2.0]), 3) == 1.0
    assert timing.median_seconds(scripted_calls([9.0, 3.0, 1.0, 2.0]), 3) == 2.0
    assert timing.call_seconds(scripted_calls([4.0, 5.0]), 2, warmup=False) == [4.0, 5.0]


def test_repeats_must_be_positive():
    with pytest.raises(ValueError, match="repeats"):
        timing.fastest_seconds(lambda: None, 0)

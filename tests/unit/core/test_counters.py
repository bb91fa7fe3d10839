"""The in-process counter registry."""

from __future__ import annotations

import threading

import pytest

from iamd.core.counters import DEFAULT, Counters


def test_counters_start_at_zero_and_add_up_per_label_set() -> None:
    c = Counters()
    assert c.value("iamd_things_total") == 0
    c.increment("iamd_things_total", kind="a")
    c.increment("iamd_things_total", 2, kind="a")
    c.increment("iamd_things_total", kind="b")
    c.increment("iamd_other_total")
    assert c.value("iamd_things_total", kind="a") == 3
    assert c.value("iamd_things_total", kind="b") == 1
    assert c.value("iamd_things_total") == 0  # no labels is its own series
    assert c.snapshot() == {
        ("iamd_other_total", ()): 1,
        ("iamd_things_total", (("kind", "a"),)): 3,
        ("iamd_things_total", (("kind", "b"),)): 1,
    }


def test_label_order_does_not_matter() -> None:
    c = Counters()
    c.increment("x_total", a="1", b="2")
    c.increment("x_total", b="2", a="1")
    assert c.value("x_total", b="2", a="1") == 2


@pytest.mark.parametrize("name", ["", "1abc", "has space", "dash-ed"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="invalid counter name"):
        Counters().increment(name)


def test_bad_label_names_and_negative_amounts_are_refused() -> None:
    c = Counters()
    with pytest.raises(ValueError, match="invalid label name"):
        c.increment("x_total", **{"bad-label": "v"})
    with pytest.raises(ValueError, match="cannot go down"):
        c.increment("x_total", -1)
    assert c.snapshot() == {}


def test_concurrent_increments_are_not_lost() -> None:
    c = Counters()

    def work() -> None:
        for _ in range(2000):
            c.increment("iamd_race_total", node="n")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert c.value("iamd_race_total", node="n") == 16000


def test_the_process_registry_is_a_registry() -> None:
    assert isinstance(DEFAULT, Counters)

"""progress.Repeats: a storm of one kind of warning (sixteen requests throttled at once) is said once
and counted; other kinds, and the same kind once its window has passed, are said again."""

from __future__ import annotations

import threading
import time

from mlxkit.progress import Repeats


def test_the_first_of_a_kind_is_said_and_the_rest_are_counted_at_the_end():
    repeats = Repeats(window=60)

    said = [repeats.admit("throttled; retrying (2 of 5)", kind=("origin", "503", 1)) for _ in range(16)]

    assert said == ["throttled; retrying (2 of 5)", *[None] * 15]
    assert repeats.held() == ["throttled; retrying (2 of 5) (and 14 more like it in the last 1 s)"]
    assert repeats.held() == []  # said once


def test_one_held_back_warning_is_said_as_it_is():
    repeats = Repeats(window=60)
    repeats.admit("dropped; retrying (2 of 5)", kind="drop")
    repeats.admit("dropped; retrying (2 of 5)", kind="drop")

    assert repeats.held() == ["dropped; retrying (2 of 5)"]


def test_kinds_are_counted_apart():
    repeats = Repeats(window=60)

    said = [repeats.admit(f"try {n}", kind=n) for n in (2, 3, 2, 4, 3, 2)]

    assert said == ["try 2", "try 3", None, "try 4", None, None]
    assert sorted(repeats.held()) == ["try 2 (and 1 more like it in the last 1 s)", "try 3"]


def test_after_the_window_a_kind_is_said_again_with_the_count_before_it():
    repeats = Repeats(window=0.2)
    repeats.admit("refused", kind="k")
    assert repeats.admit("refused", kind="k") is None
    assert repeats.admit("refused", kind="k") is None
    time.sleep(0.25)

    assert repeats.admit("refused", kind="k") == "refused (and 2 more like it in the last 1 s)"
    assert repeats.admit("refused", kind="k") is None
    assert repeats.held() == ["refused"]


def test_threads_at_once_say_a_kind_once():
    repeats = Repeats(window=60)
    said: list[str | None] = []
    start = threading.Barrier(16)

    def one() -> None:
        start.wait()
        said.append(repeats.admit("throttled", kind="k"))

    threads = [threading.Thread(target=one) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(said, key=str) == [*[None] * 15, "throttled"]
    assert repeats.held() == ["throttled (and 14 more like it in the last 1 s)"]

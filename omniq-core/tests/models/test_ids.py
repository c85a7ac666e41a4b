"""Sortable ids: ULID layout, unique, in creation order, and carrying their time."""

from __future__ import annotations

import threading
import time

from omniq.ids import new_id

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def decode(text: str) -> int:
    value = 0
    for char in text:
        value = value * 32 + ALPHABET.index(char)
    return value


def test_ids_sort_in_creation_order_and_never_repeat() -> None:
    ids = [new_id() for _ in range(50_000)]  # many per millisecond
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert {len(i) for i in ids} == {26}
    assert set("".join(ids)) <= set(ALPHABET)


def test_the_first_ten_characters_are_the_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    value = decode(new_id())
    after = time.time_ns() // 1_000_000
    assert before <= value >> 80 <= after
    assert value >> 128 == 0  # 130 bits written, the top two zero


def test_ids_of_one_millisecond_count_up_by_one() -> None:
    while True:
        first, second = new_id(), new_id()
        if first[:10] == second[:10]:
            break
    assert decode(second) - decode(first) == 1


def test_threads_get_distinct_ids() -> None:
    found: list[list[str]] = []

    def make() -> None:
        found.append([new_id() for _ in range(5_000)])

    threads = [threading.Thread(target=make) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [i for batch in found for i in batch]
    assert len(set(every)) == 20_000

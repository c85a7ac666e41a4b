"""The count cap's plan: whatever the batches' spans (overlapping, as concurrent writers make
them, and with equal times), dropping, reading and keeping as planned leaves exactly the newest
``cap`` events; batches in time order read only the one that holds the cut."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from omniq_file.event_trim import Span, plan_trim

Event = tuple[int, int]  # (time, id): the order events are kept in

_batches = st.lists(
    st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=6), max_size=12
)


def _stored(batches: list[list[int]]) -> dict[str, list[Event]]:
    events, counter = {}, 0
    for number, times in enumerate(batches):
        events[f"b{number}"] = [(time, counter + i) for i, time in enumerate(times)]
        counter += len(times)
    return events


@settings(max_examples=400, deadline=None, database=None)
@given(batches=_batches, cap=st.integers(min_value=1, max_value=30))
def test_the_plan_keeps_exactly_the_newest_cap_events(batches: list[list[int]], cap: int) -> None:
    stored = _stored(batches)
    spans = [
        Span(path, min(t for t, _ in events), max(t for t, _ in events), len(events))
        for path, events in stored.items()
    ]
    every = sorted(event for events in stored.values() for event in events)
    plan = plan_trim(spans, cap)
    if len(every) <= cap:
        assert plan is None
        return
    assert plan is not None
    planned = {span.path for span in plan.drop} | {span.path for span in plan.read}
    assert len(planned) == len(plan.drop) + len(plan.read)  # no batch both dropped and read
    candidates = sorted((e for span in plan.read for e in stored[span.path]), reverse=True)
    kept = set(candidates[: plan.keep])
    for path, events in stored.items():
        if path not in planned:
            kept.update(events)
    assert sorted(kept) == every[-cap:]


def test_batches_in_order_read_only_the_one_holding_the_cut() -> None:
    spans = [Span("a", 0, 1, 2), Span("b", 2, 2, 1), Span("c", 3, 4, 2), Span("d", 5, 6, 2)]
    plan = plan_trim(spans, 3)
    assert plan is not None
    assert [s.path for s in plan.drop] == ["a", "b"]
    assert [s.path for s in plan.read] == ["c"] and plan.keep == 1

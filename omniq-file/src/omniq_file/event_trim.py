"""Which event batches a count cap (``max_events``) drops, reads or leaves, from their spans.

A batch's name gives the time of its first and last event and how many it holds. The cut, the
newest event past the cap, lies between two times found from those alone: ``low``, the latest
time with at least ``cap`` events at or after it, and ``high``, the earliest with fewer than
``cap`` after it. A batch that ends before ``low`` is dropped unread, one that starts after
``high`` is kept unread, and only those in between are read to place the cut exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from attrs import frozen

__all__ = ["Span", "TrimPlan", "plan_trim"]


@frozen
class Span:
    path: str
    first: int
    """The first event's time (µs since the epoch)."""
    last: int
    count: int


@frozen
class TrimPlan:
    drop: list[Span]
    """Batches whose every event is older than the cut."""
    read: list[Span]
    """Batches that may hold the cut: of their events, keep the newest :attr:`keep`."""
    keep: int


def plan_trim(spans: Sequence[Span], cap: int) -> TrimPlan | None:
    """What to do with ``spans`` to keep the newest ``cap`` events; ``None`` if they hold no
    more than that."""
    if sum(span.count for span in spans) <= cap:
        return None
    low = _reach(spans, cap, lambda span: span.first)
    high = _reach(spans, cap, lambda span: span.last)
    drop = [span for span in spans if span.last < low]
    whole = [span for span in spans if span.first > high]
    read = [span for span in spans if span.last >= low and span.first <= high]
    return TrimPlan(drop=drop, read=read, keep=cap - sum(span.count for span in whole))


def _reach(spans: Sequence[Span], cap: int, time: Callable[[Span], int]) -> int:
    """The ``time`` of the batch, newest ``time`` first, at which ``cap`` events are counted."""
    counted = 0
    for span in sorted(spans, key=time, reverse=True):
        counted += span.count
        if counted >= cap:
            return time(span)
    raise ValueError("the spans hold fewer events than the cap")

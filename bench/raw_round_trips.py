"""A task's whole round trip done by the raw client alone: the producer writes a task, an idle
consumer (a thread with its own connection) takes it, stores an outcome and tells the producer,
who waits for that word. This is what OmniQ's *latency* figure (enqueue to result available,
idle worker) does with the fewest commands the client allows, so OmniQ's p50 beside it shows
the cost OmniQ adds; beside one command's round trip it shows the commands themselves too.

- Redis (redis-py, sync): ``LPUSH`` the task; the consumer's ``BRPOP`` returns it; it ``SET``s
  the outcome and ``LPUSH``es a word on the task's own list; the producer's ``BRPOP`` on that
  list returns.
- PostgreSQL (psycopg, sync, autocommit): one statement ``INSERT``s the task and
  ``pg_notify``s the consumer; the consumer (``LISTEN``) claims it by ``DELETE ... FOR UPDATE
  SKIP LOCKED RETURNING`` and, in one statement, ``INSERT``s the outcome and ``pg_notify``s the
  producer, whose ``LISTEN`` connection hears it.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

__all__ = ["postgres_task_round_trip", "redis_task_round_trip"]

PAYLOAD = b'{"func":"tasks:noop","payload":"eyJhcmdzIjpbMF19"}' * 4
"""About a task record's size."""


def _p50_ms(timings: list[float]) -> float:
    return round(statistics.median(timings) * 1000, 3)


def _measure(samples: int, one: Callable[[int], None], warm_up: int = 20) -> list[float]:
    for i in range(warm_up):
        one(-1 - i)
    timings = []
    for i in range(samples):
        began = time.perf_counter()
        one(i)
        timings.append(time.perf_counter() - began)
    return timings


def redis_task_round_trip(url: str, samples: int) -> dict[str, Any]:
    import redis

    tag = uuid.uuid4().hex[:8]
    queue = f"raw:rt:{tag}:queue"
    stop = b"stop"

    def consume() -> None:
        client = redis.Redis.from_url(url)
        try:
            while True:
                item = client.brpop([queue], timeout=30)
                if item is None or item[1] == stop:
                    return
                task_id = item[1].decode() if isinstance(item[1], bytes) else item[1]
                client.set(f"raw:rt:{tag}:result:{task_id}", PAYLOAD, ex=60)
                client.lpush(f"raw:rt:{tag}:done:{task_id}", b"1")
        finally:
            client.close()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    producer = redis.Redis.from_url(url)
    try:

        def one(i: int) -> None:
            producer.lpush(queue, str(i).encode())
            if producer.brpop([f"raw:rt:{tag}:done:{i}"], timeout=30) is None:
                raise TimeoutError("the raw consumer did not answer")

        timings = _measure(samples, one)
        producer.lpush(queue, stop)
        consumer.join(timeout=30)
        keys = list(producer.scan_iter(match=f"raw:rt:{tag}:*", count=1000))
        for offset in range(0, len(keys), 1000):
            producer.delete(*keys[offset : offset + 1000])
    finally:
        producer.close()
    return {"samples": samples, "p50_ms": _p50_ms(timings)}


def postgres_task_round_trip(dsn: str, samples: int) -> dict[str, Any]:
    import psycopg

    tag = uuid.uuid4().hex[:8]
    tasks, results = f"raw_rt_{tag}_tasks", f"raw_rt_{tag}_results"
    work, done = f"raw_rt_{tag}_work", f"raw_rt_{tag}_done"
    with psycopg.connect(dsn, autocommit=True) as setup:
        for table, column in ((tasks, "payload"), (results, "data")):
            create = f"CREATE TABLE {table} (id text PRIMARY KEY, {column} bytea NOT NULL)"
            setup.execute(create.encode())
    claim = (
        f"DELETE FROM {tasks} WHERE id IN (SELECT id FROM {tasks} LIMIT 1 FOR UPDATE SKIP LOCKED) "
        "RETURNING id"
    ).encode()
    store = (
        f"WITH ins AS (INSERT INTO {results} (id, data) VALUES (%s, %s) RETURNING id) "
        f"SELECT pg_notify('{done}', id) FROM ins"
    ).encode()
    enqueue = (
        f"WITH ins AS (INSERT INTO {tasks} (id, payload) VALUES (%s, %s) RETURNING id) "
        f"SELECT pg_notify('{work}', id) FROM ins"
    ).encode()
    stopping = threading.Event()
    listening = threading.Event()

    def consume() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"LISTEN {work}".encode())
            listening.set()
            while not stopping.is_set():
                row = conn.execute(claim).fetchone()
                if row is None:
                    for _ in conn.notifies(timeout=0.5, stop_after=1):
                        pass
                    continue
                conn.execute(store, (row[0], PAYLOAD))

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    listening.wait(30)
    try:
        with (
            psycopg.connect(dsn, autocommit=True) as producer,
            psycopg.connect(dsn, autocommit=True) as listener,
        ):
            listener.execute(f"LISTEN {done}".encode())

            def one(i: int) -> None:
                task_id = str(i)
                producer.execute(enqueue, (task_id, PAYLOAD))
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    for note in listener.notifies(timeout=deadline - time.monotonic()):
                        if note.payload == task_id:
                            return
                raise TimeoutError("the raw consumer did not answer")

            timings = _measure(samples, one)
    finally:
        stopping.set()
        consumer.join(timeout=30)
        with psycopg.connect(dsn, autocommit=True) as setup:
            setup.execute(f"DROP TABLE IF EXISTS {tasks}, {results}".encode())
    return {"samples": samples, "p50_ms": _p50_ms(timings)}

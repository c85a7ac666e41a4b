"""The JSON API, /metrics and the security rules, against real stores (SQLite and Redis)."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from omniq import AsyncOmniQ
from omniq.models.event import EventType

from .conftest import serving

TOKEN = "a-token-of-twenty-chars"


async def add(x: int, y: int, password: str = "") -> int:
    return x + y


async def boom(dsn: str) -> None:
    raise ValueError(f"cannot reach {dsn}")


async def wait_until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.05)


async def test_queue_counts_and_paged_task_listing(make_backend: Callable[[], Any]) -> None:
    oq = AsyncOmniQ(backend=make_backend(), workers=0)
    async with serving(oq) as dash:
        ids = [await oq.enqueue(add, i, 1, queue="waiting") for i in range(7)]
        await oq.enqueue(add, 0, 0, queue="waiting", delay=600)
        queues = (await dash.client.get("/api/queues")).json()["queues"]
        assert {q["queue"]: (q["ready"], q["delayed"], q["dead"]) for q in queues} == {
            "waiting": (7, 1, 0)
        }
        pages = [
            (await dash.client.get(f"/api/tasks?queue=waiting&per_page=3&page={n}")).json()
            for n in (1, 2, 3)
        ]
        assert [len(p["items"]) for p in pages] == [3, 3, 2]
        assert [p["has_more"] for p in pages] == [True, True, False]
        listed = [t["id"] for p in pages for t in p["items"]]
        assert listed[:7] == ids  # claim order: ready tasks first, FIFO
        only = (await dash.client.get(f"/api/tasks?state=pending&func={__name__}:boom")).json()
        assert only["items"] == []


async def test_task_detail_redacts_arguments_and_errors(make_backend: Callable[[], Any]) -> None:
    oq = AsyncOmniQ(backend=make_backend(), workers=1, queues=["default"])
    async with serving(oq) as dash:
        waiting = await oq.enqueue(add, 1, 2, password="hunter2", queue="held")
        failing = await oq.enqueue(boom, "postgresql://app:s3cr3t@db/prod")
        await wait_until(lambda: oq.get_task_result(failing))
        held = (await dash.client.get(f"/api/tasks/{waiting}")).json()
        failed = (await dash.client.get(f"/api/tasks/{failing}")).json()
        missing = await dash.client.get("/api/tasks/no-such-task")
        bad = await dash.client.get("/api/tasks?state=nonsense")
    assert held["state"] == "pending"
    assert held["arguments"] == {"args": [1, 2], "kwargs": {"password": "***"}}
    assert failed["result"]["status"] == "failure"
    text = str(failed)
    assert "s3cr3t" not in text and "app:***@db" in text
    assert [e["type"] for e in failed["events"]][:2] == ["enqueued", "started"]
    assert missing.status_code == 404
    assert bad.status_code == 400 and "state" in bad.json()["error"]


async def test_dead_letter_retry_and_purge_need_csrf(make_backend: Callable[[], Any]) -> None:
    oq = AsyncOmniQ(backend=make_backend(), workers=1, queues=["default"])
    async with serving(oq) as dash:
        first = await oq.enqueue(boom, "x")
        second = await oq.enqueue(boom, "y")
        await wait_until(lambda: _dead_count(dash.client, "default", 2))
        refused = await dash.client.post("/api/dead/default/retry", json={"task_ids": [first]})
        token = await dash.csrf()
        retried = await dash.client.post(
            "/api/dead/default/retry", json={"task_ids": [first]}, headers={"X-CSRF-Token": token}
        )
        runs = await wait_until(lambda: _started_count(oq, first, 2))
        await wait_until(lambda: _dead_count(dash.client, "default", 2))
        purged = await dash.client.post("/api/dead/default/purge", headers={"X-CSRF-Token": token})
        dead = (await dash.client.get("/api/dead")).json()["queues"]
    assert refused.status_code == 403
    assert retried.json() == {"queue": "default", "requeued": 1}
    assert runs  # the retried dead letter ran again
    assert purged.json() == {"queue": "default", "purged": 2}
    assert dead == []
    assert second


async def _dead_count(client: Any, queue: str, count: int) -> bool:
    queues = (await client.get("/api/queues")).json()["queues"]
    return any(q["queue"] == queue and q["dead"] == count for q in queues)


async def _started_count(oq: AsyncOmniQ, task_id: str, count: int) -> bool:
    events = await oq.query_events(task_id=task_id, event_types=[EventType.STARTED])
    return len(events) >= count


async def test_schedules_pause_resume_remove(make_backend: Callable[[], Any]) -> None:
    oq = AsyncOmniQ(backend=make_backend(), workers=0)
    async with serving(oq) as dash:
        await oq.schedule(add, 1, 2, name="nightly", cron="0 3 * * *")
        token = {"X-CSRF-Token": await dash.csrf()}
        paused = await dash.client.post("/api/schedules/nightly/pause", headers=token)
        listed = (await dash.client.get("/api/schedules")).json()["schedules"]
        resumed = await dash.client.post("/api/schedules/nightly/resume", headers=token)
        removed = await dash.client.post("/api/schedules/nightly/remove", headers=token)
        again = await dash.client.post("/api/schedules/nightly/remove", headers=token)
        left = (await dash.client.get("/api/schedules")).json()["schedules"]
    assert paused.json()["found"] is True
    assert [(s["name"], s["paused"], s["next_fire_at"] is not None) for s in listed] == [
        ("nightly", True, True)
    ]
    assert resumed.json()["found"] and removed.json()["found"]
    assert again.status_code == 404 and left == []


async def test_workers_and_metrics(make_backend: Callable[[], Any]) -> None:
    oq = AsyncOmniQ(backend=make_backend(), workers=2, queues=["default", "other"])
    async with serving(oq) as dash:
        for i in range(3):
            await oq.enqueue(add, i, i)
        await oq.enqueue(boom, "z")
        workers = (await dash.client.get("/api/workers")).json()["workers"]

        async def counted() -> str | None:
            body = (await dash.client.get("/metrics")).text
            done = f'func="{__name__}:add"' in body and "dead_lettered_total{" in body
            return body if done else None

        body = await wait_until(counted)
        chart = (await dash.client.get("/api/throughput?minutes=5")).json()
    assert [(w["pid"], w["queues"], w["concurrency"], w["state"]) for w in workers] == [
        (os.getpid(), ["default", "other"], 2, "running")
    ]
    assert body is not None
    completed = rf'omniq_tasks_completed_total\{{func="{__name__}:add",queue="default"\}} 3'
    assert re.search(completed, body)
    dead = r'omniq_tasks_dead_lettered_total\{func="[^"]+:boom",queue="default"\} 1'
    assert re.search(dead, body)
    assert 'omniq_queue_tasks{queue="default",state="dead"} 1.0' in body
    assert 'omniq_workers{state="running"} 1.0' in body
    assert "omniq_task_duration_seconds_bucket" in body
    assert sum(b["completed"] for b in chart["buckets"]) == 3
    assert sum(b["failed"] for b in chart["buckets"]) == 1


async def test_a_stopped_worker_says_so(sqlite_backend: Callable[[], Any]) -> None:
    async with AsyncOmniQ(backend=sqlite_backend(), workers=1):
        pass
    oq = AsyncOmniQ(backend=sqlite_backend(), workers=0)
    async with serving(oq) as dash:
        workers = (await dash.client.get("/api/workers")).json()["workers"]
    assert [w["state"] for w in workers] == ["stopped"]


async def test_a_token_guards_pages_api_and_metrics(sqlite_backend: Callable[[], Any]) -> None:
    oq = AsyncOmniQ(backend=sqlite_backend(), workers=0)
    async with serving(oq, token=TOKEN) as dash:
        api = await dash.client.get("/api/queues")
        metrics = await dash.client.get("/metrics")
        page = await dash.client.get("/queues")
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        with_token = await dash.client.get("/api/queues", headers=bearer)
        wrong = await dash.client.get("/api/queues", headers={"Authorization": "Bearer nope"})
        # a script with the token needs no CSRF value: it carries no ambient credential
        post = await dash.client.post("/api/dead/default/purge", headers=bearer)
        await dash.client.get("/login")  # the login form is CSRF-protected too
        csrf = dash.client.cookies["omniq_csrf"]
        bad_login = await dash.client.post("/login", data={"token": "nope", "csrf": csrf})
        login = await dash.client.post(
            "/login", data={"token": TOKEN, "csrf": csrf, "next": "/workers"}
        )
        after = await dash.client.get("/api/queues")  # the session cookie now
    assert api.status_code == 401 and metrics.status_code == 401
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/queues"
    assert with_token.status_code == 200 and wrong.status_code == 401
    assert post.status_code == 200
    assert bad_login.status_code == 200 and "not the dashboard" in bad_login.text
    assert login.status_code == 303 and login.headers["location"] == "/workers"
    assert TOKEN not in str(login.headers)  # the cookie holds an HMAC of the token
    assert after.status_code == 200


async def test_requests_for_another_host_are_refused(sqlite_backend: Callable[[], Any]) -> None:
    oq = AsyncOmniQ(backend=sqlite_backend(), workers=0)
    async with serving(oq) as dash:
        rebound = await dash.client.get("/api/queues", headers={"Host": "attacker.example"})
        local = await dash.client.get("/api/queues", headers={"Host": "localhost:8765"})
        headers = (await dash.client.get("/queues")).headers
        spec = (await dash.client.get("/api/openapi.json")).json()
    assert rebound.status_code == 400 and local.status_code == 200
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert spec["openapi"].startswith("3.") and "/api/tasks/{task_id}" in spec["paths"]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "example.org"])
def test_binding_beyond_loopback_needs_a_token(host: str) -> None:
    from omniq.dashboard.security import check_binding
    from omniq.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="--token TOKEN or set OMNIQ_DASHBOARD_TOKEN"):
        check_binding(host, None)
    check_binding(host, TOKEN)
    check_binding("127.0.0.1", None)
    check_binding("::1", None)


async def test_pages_cross_queues_with_and_without_filters(make_backend: Callable[[], Any]) -> None:
    oq = AsyncOmniQ(backend=make_backend(), workers=0)
    async with serving(oq) as dash:
        first = [await oq.enqueue(add, i, 0, queue="aa") for i in range(3)]
        second = [await oq.enqueue(add, i, 0, queue="bb") for i in range(3)]
        failing = [await oq.enqueue(boom, str(i), queue=q) for i, q in enumerate(("aa", "bb"))]

        async def ids(query: str) -> tuple[list[str], bool]:
            page = (await dash.client.get(f"/api/tasks?{query}")).json()
            return [t["id"] for t in page["items"]], page["has_more"]

        plain = [await ids(f"per_page=3&page={n}") for n in (1, 2, 3)]
        only_add = [await ids(f"func={__name__}:add&per_page=4&page={n}") for n in (1, 2)]
        only_boom = await ids(f"func={__name__}:boom")
    assert plain == [
        (first, True),
        ([failing[0], *second[:2]], True),
        ([second[2], failing[1]], False),
    ]
    assert only_add == [([*first, second[0]], True), (second[1:], False)]
    assert only_boom == (failing, False)


async def test_finished_tasks_newest_first_by_function(make_backend: Callable[[], Any]) -> None:
    oq = AsyncOmniQ(backend=make_backend(), workers=1, queues=["default"])
    async with serving(oq) as dash:
        added = []
        for i in range(3):
            added.append(await oq.enqueue(add, i, i))
            await oq.get_result(added[-1], timeout=10)
        failed = await oq.enqueue(boom, "x")
        await wait_until(lambda: oq.get_task_result(failed))

        async def ids(query: str) -> tuple[list[str], bool]:
            page = (await dash.client.get(f"/api/tasks?{query}")).json()
            return [t["task_id"] for t in page["items"]], page["has_more"]

        pages = [await ids(f"state=completed&func={__name__}:add&per_page=2&page={n}")
                 for n in (1, 2)]
        none = await ids(f"state=completed&func={__name__}:boom")
        failures = await ids("state=failed")
    assert pages == [([added[2], added[1]], True), ([added[0]], False)]
    assert none == ([], False)
    assert failures == ([failed], False)

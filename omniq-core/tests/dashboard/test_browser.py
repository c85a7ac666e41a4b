"""The dashboard in a real browser: Debian's headless chromium driven by Playwright.

Each test also writes a screenshot of its page into docs/assets/dashboard/ (docs/dashboard.md
shows them)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from omniq import AsyncOmniQ
from omniq.models.event import EventType

from .conftest import screenshot_path, serving

TIMEOUT_MS = 15_000
"""How long an expectation waits for the page (live pages re-fetch every 2 s)."""

GATES: dict[str, threading.Event] = {}
FAILED_ONCE: set[str] = set()


async def resize(width: int, height: int) -> dict[str, int]:
    return {"width": width, "height": height}


async def send_invoice(order_id: int, email: str, api_key: str = "") -> str:
    return f"invoice {order_id} sent to {email}"


async def flaky_charge(order_id: int) -> str:
    """Fails on its first run in this process, then succeeds."""
    key = f"charge-{order_id}"
    if key not in FAILED_ONCE:
        FAILED_ONCE.add(key)
        raise ConnectionError("payment gateway https://shop:s3cret@pay.example/ timed out")
    return f"charged {order_id}"


async def held(gate: str) -> str:
    """Runs until the test opens ``gate``."""
    event = GATES.setdefault(gate, threading.Event())
    await asyncio.to_thread(event.wait, 30)
    return "released"


async def wait_for(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.05)


async def test_queue_page_shows_the_counts_of_enqueued_tasks(
    sqlite_backend: Callable[[], Any], browser: Any
) -> None:
    from playwright.async_api import expect

    oq = AsyncOmniQ(backend=sqlite_backend(), workers=2, queues=["default"])
    async with serving(oq) as dash:
        done = [await oq.enqueue(resize, 640 + i, 480) for i in range(12)]
        for i in range(5):
            await oq.enqueue(send_invoice, 1000 + i, f"c{i}@example.com", queue="emails")
        for i in range(3):
            await oq.enqueue(send_invoice, 2000 + i, "later@example.com", queue="emails", delay=900)
        await oq.enqueue(resize, 1, 1, queue="thumbnails", priority=5)
        await wait_for(lambda: oq.get_task_result(done[-1]))
        page = await browser.new_page()
        await page.goto(f"{dash.url}/queues")
        emails = page.locator('#queues tr[data-queue="emails"]')
        await expect(emails.locator('[data-count="ready"]')).to_have_text("5")
        await expect(emails.locator('[data-count="delayed"]')).to_have_text("3")
        await expect(emails.locator('[data-count="dead"]')).to_have_text("0")
        thumbs = page.locator('#queues tr[data-queue="thumbnails"]')
        await expect(thumbs.locator('[data-count="ready"]')).to_have_text("1")
        await page.screenshot(path=screenshot_path("queues"), full_page=True)
        await page.goto(f"{dash.url}/tasks?queue=emails&state=pending")
        await expect(page.locator("#tasks tbody tr")).to_have_count(8)
        await page.screenshot(path=screenshot_path("tasks"), full_page=True)


async def test_task_page_shows_its_event_timeline(
    sqlite_backend: Callable[[], Any], browser: Any
) -> None:
    from playwright.async_api import expect

    oq = AsyncOmniQ(backend=sqlite_backend(), workers=1, queues=["payments"])
    async with serving(oq) as dash:
        task_id = await oq.enqueue(
            flaky_charge, 31, queue="payments", max_retries=2, retry_backoff=0.05
        )
        await wait_for(lambda: oq.get_task_result(task_id))
        page = await browser.new_page()
        await page.goto(f"{dash.url}/tasks/{task_id}")
        timeline = page.locator("#timeline li")
        await expect(timeline).to_have_count(6, timeout=TIMEOUT_MS)
        kinds = [await li.get_attribute("data-type") for li in await timeline.all()]
        await expect(page.locator("#task-state")).to_have_text("completed")
        html = await page.content()
        await page.screenshot(path=screenshot_path("task"), full_page=True)
    assert kinds == ["enqueued", "started", "failed", "retrying", "started", "completed"]
    assert "s3cret" not in html and "shop:***@pay.example" in html


async def test_retry_on_a_dead_letter_makes_it_run(
    sqlite_backend: Callable[[], Any], browser: Any
) -> None:
    from playwright.async_api import expect

    oq = AsyncOmniQ(backend=sqlite_backend(), workers=1, queues=["payments"])
    async with serving(oq) as dash:
        dead = await oq.enqueue(flaky_charge, 7, queue="payments")
        other = await oq.enqueue(flaky_charge, 8, queue="payments")

        async def both_dead() -> bool:
            sizes = await oq.queue_sizes(["payments"])
            return sizes["payments"].dead == 2

        assert await wait_for(both_dead)
        page = await browser.new_page()
        await page.goto(f"{dash.url}/dead")
        row = page.locator(f'tr[data-task="{dead}"]')
        await expect(row).to_have_count(1)
        await page.screenshot(path=screenshot_path("dead"), full_page=True)
        await row.get_by_role("button", name="Retry").click()
        await page.wait_for_url(f"{dash.url}/dead")
        result = await oq.get_result(dead, timeout=15)
        await expect(page.locator(f'tr[data-task="{dead}"]')).to_have_count(0)
        left = await oq.queue_sizes(["payments"])
    assert result == "charged 7"
    assert left["payments"].dead == 1 and other  # only the one retried left the dead letters


async def _ticks(oq: AsyncOmniQ, name: str) -> int:
    events = await oq.query_events(event_types=[EventType.ENQUEUED], limit=10_000)
    return sum(1 for e in events if e.details.get("schedule") == name)


async def test_pause_on_a_schedule_stops_its_ticks(
    sqlite_backend: Callable[[], Any], browser: Any
) -> None:
    from playwright.async_api import expect

    oq = AsyncOmniQ(backend=sqlite_backend(), workers=1, queues=["default"], scheduler=True)
    async with serving(oq) as dash:
        await oq.schedule(resize, 64, 64, name="thumbnail-sweep", interval=1)
        await oq.schedule(send_invoice, 0, "ops@example.com", name="daily-report", cron="0 6 * * *")
        assert await wait_for(lambda: _ticks_at_least(oq, "thumbnail-sweep", 1))
        page = await browser.new_page()
        await page.goto(f"{dash.url}/schedules")
        row = page.locator('tr[data-schedule="thumbnail-sweep"]')
        await row.get_by_role("button", name="Pause").click()
        await expect(row.locator(".state")).to_have_text("paused")
        paused_at = await _ticks(oq, "thumbnail-sweep")
        await asyncio.sleep(3.5)  # three intervals and more
        after = await _ticks(oq, "thumbnail-sweep")
        stored = await oq.get_schedule("thumbnail-sweep")
        await page.screenshot(path=screenshot_path("schedules"), full_page=True)
    assert stored is not None and stored.paused
    assert after == paused_at


async def _ticks_at_least(oq: AsyncOmniQ, name: str, count: int) -> bool:
    return await _ticks(oq, name) >= count


async def test_a_live_page_updates_without_a_reload_when_a_task_completes(
    sqlite_backend: Callable[[], Any], browser: Any
) -> None:
    from playwright.async_api import expect

    gate = f"gate-{time.monotonic_ns()}"
    GATES[gate] = threading.Event()
    oq = AsyncOmniQ(backend=sqlite_backend(), workers=2, queues=["default"])
    async with serving(oq) as dash:
        task_id = await oq.enqueue(held, gate)
        await oq.enqueue(send_invoice, 4711, "ada@example.com", api_key="sk-live-123", delay=60)
        page = await browser.new_page()
        await page.goto(f"{dash.url}/tasks/{task_id}")
        await expect(page.locator("#task-state")).to_have_text("active", timeout=TIMEOUT_MS)
        delayed = (await oq.list_tasks("default", "pending"))[0].task.id
        await page.goto(f"{dash.url}/tasks/{delayed}")
        await expect(page.locator("#arguments")).to_contain_text('"api_key": "***"')
        shown = await page.content()
        await page.screenshot(path=screenshot_path("task-waiting"), full_page=True)
        await page.goto(f"{dash.url}/tasks/{task_id}")
        await expect(page.locator("#task-state")).to_have_text("active", timeout=TIMEOUT_MS)
        await page.evaluate("window.__not_reloaded = true")
        GATES[gate].set()
        await expect(page.locator("#task-state")).to_have_text("completed", timeout=TIMEOUT_MS)
        await expect(page.locator('#timeline li[data-type="completed"]')).to_have_count(1)
        same_document = await page.evaluate("window.__not_reloaded === true")
        await page.goto(f"{dash.url}/workers")
        await expect(page.locator("#workers tbody tr")).to_have_count(1)
        await page.screenshot(path=screenshot_path("workers"), full_page=True)
    assert same_document  # the page changed in place: no navigation, no reload
    assert "sk-live-123" not in shown and "ada@example.com" in shown

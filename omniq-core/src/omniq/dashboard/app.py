"""The dashboard's ASGI app: server-rendered pages, the JSON API under ``/api/``, ``/metrics``.

Pages are Jinja2 templates; a page marked live re-fetches its own content (``?fragment=1``)
every two seconds with a few lines of plain JavaScript (``static/live.js``): no front-end build.
Actions (retry, purge, cancel, pause, resume, remove) are POSTs: a page's form gets a redirect
back, a script's JSON request gets JSON.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from omniq import __version__, names
from omniq.dashboard.data import EVENT_STATES, QUEUE_STATES, DashboardData
from omniq.dashboard.forms import is_form, next_path, read_form
from omniq.dashboard.metrics import EventCounter, Metrics
from omniq.dashboard.openapi import openapi_document
from omniq.dashboard.params import task_filter
from omniq.dashboard.security import SESSION_COOKIE, Guard, session_value, token_matches
from omniq.errors import InvalidNameError, InvalidValueError
from omniq.models.task import CancelOutcome
from omniq.runtime.async_app import AsyncOmniQ

__all__ = ["create_app"]

_HERE = Path(__file__).parent
LIVE_MS = 2000

Handler = Callable[[Request], Awaitable[Response]]


class _JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def _templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(_HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        enable_async=False,
    )
    env.filters["short"] = lambda v: "" if v is None else str(v).replace("T", " ")[:19]
    env.filters["ms"] = lambda v: "" if v is None else str(v).replace("T", " ")[:23]
    return env


def create_app(
    oq: AsyncOmniQ,
    *,
    token: str | None = None,
    loopback_only: bool = True,
    metrics_poll: float = 1.0,
) -> Starlette:
    """The dashboard over ``oq`` (started and closed with the ASGI app's lifespan).

    ``token`` guards every page and API call (see :mod:`omniq.dashboard.security`);
    ``loopback_only`` refuses requests whose ``Host`` is not a loopback name.
    """
    data = DashboardData(oq)
    metrics = Metrics()
    env = _templates()
    counter: list[EventCounter] = []

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await oq.start()
        follower = EventCounter(oq.stores.events, metrics, poll=metrics_poll)
        follower.start()
        counter.append(follower)
        try:
            yield
        finally:
            await follower.stop()
            await oq.close()

    def page(
        request: Request, template: str, *, live: bool = False, status: int = 200, **context: Any
    ) -> Response:
        fragment = request.query_params.get("fragment") == "1"
        html = env.get_template(template).render(
            request=request,
            fragment=fragment,
            live=LIVE_MS if live else 0,
            csrf=request.state.csrf,
            token_required=token is not None,
            version=__version__,
            path=request.url.path,
            here=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
            status=status,
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def guarded(handler: Handler, *, api: bool) -> Handler:
        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except (InvalidValueError, InvalidNameError) as exc:
                if api:
                    return _JSON({"error": str(exc)}, status_code=400)
                return page(request, "error.html", message=str(exc), status=400)

        return run

    # -- pages -----------------------------------------------------------------------------------

    async def home(_: Request) -> Response:
        return RedirectResponse("/queues", status_code=303)

    async def queues_page(request: Request) -> Response:
        chart = await data.throughput()
        peak = max([1] + [b["completed"] + b["failed"] for b in chart["buckets"]])
        return page(
            request,
            "queues.html",
            live=True,
            queues=await data.queues(),
            chart=chart,
            peak=peak,
            workers=await data.workers(),
        )

    async def tasks_page(request: Request) -> Response:
        wanted = task_filter(request.query_params)
        listing = await data.tasks(wanted)
        return page(
            request,
            "tasks.html",
            live=True,
            listing=listing,
            queue_names=listing["queues"],
            queue_states=QUEUE_STATES,
            event_states=list(EVENT_STATES),
            query=dict(request.query_params),
        )

    async def task_page(request: Request) -> Response:
        task_id = names.validate_task_id(request.path_params["task_id"])
        found = await data.task(task_id)
        if found is None:
            return page(request, "error.html", message=f"No task {task_id!r} is known", status=404)
        return page(request, "task.html", live=True, task=found)

    async def dead_page(request: Request) -> Response:
        queue = request.query_params.get("queue") or None
        if queue:
            names.validate_queue_name(queue)
        return page(request, "dead.html", live=True, dead=await data.dead_letters(queue))

    async def schedules_page(request: Request) -> Response:
        return page(request, "schedules.html", live=True, schedules=await data.schedules())

    async def workers_page(request: Request) -> Response:
        return page(request, "workers.html", live=True, workers=await data.workers())

    async def login_page(request: Request) -> Response:
        if request.method == "POST":
            form = await read_form(request)
            given = (form.get("token") or [""])[0]
            if token and token_matches(given, token):
                target = next_path((form.get("next") or [""])[0], "/queues")
                response = RedirectResponse(target, status_code=303)
                response.set_cookie(
                    SESSION_COOKIE, session_value(token), httponly=True, samesite="strict"
                )
                return response
            return page(request, "login.html", failed=True, next=form.get("next", [""])[0])
        return page(request, "login.html", failed=False, next=request.query_params.get("next"))

    # -- API -------------------------------------------------------------------------------------

    async def api_index(_: Request) -> Response:
        return _JSON({"openapi": "/api/openapi.json", "version": __version__})

    async def api_openapi(_: Request) -> Response:
        return _JSON(openapi_document())

    async def api_csrf(request: Request) -> Response:
        return _JSON({"csrf": request.state.csrf, "header": "X-CSRF-Token"})

    async def api_queues(_: Request) -> Response:
        return _JSON({"queues": await data.queues()})

    async def api_throughput(request: Request) -> Response:
        params = request.query_params
        queue = params.get("queue") or None
        if queue:
            names.validate_queue_name(queue)
        minutes = params.get("minutes") or "60"
        if not minutes.isdigit() or not 1 <= int(minutes) <= 1440:
            raise InvalidValueError("minutes", minutes, "a whole number from 1 to 1440")
        return _JSON(await data.throughput(minutes=int(minutes), queue=queue))

    async def api_tasks(request: Request) -> Response:
        return _JSON(await data.tasks(task_filter(request.query_params)))

    async def api_task(request: Request) -> Response:
        task_id = names.validate_task_id(request.path_params["task_id"])
        found = await data.task(task_id)
        if found is None:
            return _JSON({"error": f"no task {task_id!r} is known"}, status_code=404)
        return _JSON(found)

    async def api_dead(request: Request) -> Response:
        queue = request.query_params.get("queue") or None
        if queue:
            names.validate_queue_name(queue)
        return _JSON(await data.dead_letters(queue))

    async def api_schedules(_: Request) -> Response:
        return _JSON({"schedules": await data.schedules()})

    async def api_workers(_: Request) -> Response:
        return _JSON({"workers": await data.workers()})

    async def metrics_endpoint(_: Request) -> Response:
        from omniq.runtime.presence import list_workers

        queues = list((await oq.queue_sizes()).values())
        workers = await list_workers(oq.stores.events, window=3600.0)
        return PlainTextResponse(
            metrics.render(queues, workers),
            media_type="text/plain; version=0.0.4; charset=utf-8",
        )

    # -- actions ---------------------------------------------------------------------------------

    async def done(request: Request, document: dict[str, Any], default: str) -> Response:
        if is_form(request):
            form = await read_form(request)
            return RedirectResponse(next_path((form.get("next") or [""])[0], default), 303)
        return _JSON(document, status_code=404 if document.get("found") is False else 200)

    async def retry_dead(request: Request) -> Response:
        queue = names.validate_queue_name(request.path_params["queue"])
        ids = await _task_ids(request)
        count = await oq.retry_dead(queue, ids)
        return await done(request, {"queue": queue, "requeued": count}, "/dead")

    async def purge_dead(request: Request) -> Response:
        queue = names.validate_queue_name(request.path_params["queue"])
        count = await oq.purge(queue, ["dead"])
        return await done(request, {"queue": queue, "purged": count}, "/dead")

    async def cancel_task(request: Request) -> Response:
        task_id = names.validate_task_id(request.path_params["task_id"])
        outcome = await oq.cancel(task_id)
        document = {
            "task_id": task_id,
            "outcome": outcome.value,
            "found": outcome is not CancelOutcome.NOT_FOUND,
        }
        return await done(request, document, f"/tasks/{task_id}")

    async def schedule_action(request: Request) -> Response:
        name = names.validate_schedule_name(request.path_params["name"])
        action = request.path_params["action"]
        change = {
            "pause": oq.pause_schedule,
            "resume": oq.resume_schedule,
            "remove": oq.remove_schedule,
        }.get(action)
        if change is None:
            return _JSON({"error": "use pause, resume or remove"}, status_code=404)
        found = await change(name)
        return await done(request, {"name": name, "action": action, "found": found}, "/schedules")

    def pages(*routes: tuple[str, Handler]) -> list[BaseRoute]:
        return [Route(p, guarded(h, api=False), methods=["GET"]) for p, h in routes]

    def api(path: str, handler: Handler, method: str = "GET") -> Route:
        return Route(path, guarded(handler, api=True), methods=[method])

    routes: list[BaseRoute] = [
        *pages(
            ("/", home),
            ("/queues", queues_page),
            ("/tasks", tasks_page),
            ("/tasks/{task_id}", task_page),
            ("/dead", dead_page),
            ("/schedules", schedules_page),
            ("/workers", workers_page),
        ),
        Route("/login", guarded(login_page, api=False), methods=["GET", "POST"]),
        api("/api/", api_index),
        api("/api/openapi.json", api_openapi),
        api("/api/csrf", api_csrf),
        api("/api/queues", api_queues),
        api("/api/throughput", api_throughput),
        api("/api/tasks", api_tasks),
        api("/api/tasks/{task_id}", api_task),
        api("/api/tasks/{task_id}/cancel", cancel_task, "POST"),
        api("/api/dead", api_dead),
        api("/api/dead/{queue}/retry", retry_dead, "POST"),
        api("/api/dead/{queue}/purge", purge_dead, "POST"),
        api("/api/schedules", api_schedules),
        api("/api/schedules/{name}/{action}", schedule_action, "POST"),
        api("/api/workers", api_workers),
        api("/metrics", metrics_endpoint),
        Mount("/static", app=StaticFiles(directory=_HERE / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(Guard, token=token, loopback_only=loopback_only)],
    )
    app.state.data = data
    app.state.metrics = metrics
    return app


async def _task_ids(request: Request) -> list[str] | None:
    """The ``task_id`` fields of a form, or ``task_ids`` of a JSON body; ``None`` for all."""
    if is_form(request):
        ids = (await read_form(request)).get("task_id") or []
    else:
        body = await request.body()
        try:
            document = orjson.loads(body) if body.strip() else {}
        except orjson.JSONDecodeError:
            raise InvalidValueError("body", body[:40], "JSON, e.g. {\"task_ids\": [...]}") from None
        if not isinstance(document, dict):
            raise InvalidValueError("body", document, 'a JSON object, e.g. {"task_ids": ["..."]}')
        ids = document.get("task_ids") or []
        if not isinstance(ids, list):
            raise InvalidValueError("task_ids", ids, "a list of task ids")
    return [names.validate_task_id(i) for i in ids] or None

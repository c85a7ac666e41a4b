"""The OpenAPI 3.1 document of the JSON API (served at ``/api/openapi.json``)."""

from __future__ import annotations

from typing import Any

from omniq import __version__
from omniq.dashboard.params import STATES

__all__ = ["openapi_document"]


def _get(summary: str, params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": params or [],
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {}}},
                "401": {"description": "a token is required"},
            },
        }
    }


def _post(summary: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "description": "Needs the X-CSRF-Token header (GET /api/csrf) unless authenticated by "
        "an Authorization: Bearer header.",
        "responses": {
            "200": {"description": "done", "content": {"application/json": {}}},
            "403": {"description": "missing or wrong CSRF token"},
            "404": {"description": "no such task or schedule"},
        },
    }
    if body is not None:
        operation["requestBody"] = {"content": {"application/json": {"schema": body}}}
    return {"post": operation}


def _param(name: str, where: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": schema or {"type": "string"},
    }


def openapi_document() -> dict[str, Any]:
    """The API's description."""
    queue = _param("queue", "path", "queue name")
    name = _param("name", "path", "schedule name")
    task_id = _param("task_id", "path", "task id")
    listing = [
        _param("queue", "query", "only this queue"),
        _param("state", "query", "which tasks", enum=list(STATES), default="pending"),
        _param("func", "query", "only this function (module:qualname)"),
        _param("since", "query", "enqueued (or finished) at or after, ISO 8601"),
        _param("until", "query", "before, ISO 8601"),
        _param("page", "query", "page number", type="integer", minimum=1, default=1),
        _param("per_page", "query", "rows per page", type="integer", minimum=1, maximum=500),
    ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "OmniQ dashboard API",
            "version": __version__,
            "description": "What the dashboard's pages show, for scripts. Secrets are masked.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/queues": _get("queue counts: ready, delayed, active, dead"),
            "/api/throughput": _get(
                "completed and failed attempts per minute",
                [
                    _param("minutes", "query", "how far back", type="integer", default=60),
                    _param("queue", "query", "only this queue"),
                ],
            ),
            "/api/tasks": _get("one page of tasks", listing),
            "/api/tasks/{task_id}": _get(
                "a task: record, arguments (redacted), result or error, events", [task_id]
            ),
            "/api/tasks/{task_id}/cancel": {
                **_post("cancel a pending task, or ask a running one to stop"),
                "parameters": [task_id],
            },
            "/api/dead": _get("dead letters per queue", [_param("queue", "query", "one queue")]),
            "/api/dead/{queue}/retry": {
                **_post(
                    "move dead letters back to pending (all, or task_ids)",
                    {
                        "type": "object",
                        "properties": {"task_ids": {"type": "array", "items": {"type": "string"}}},
                    },
                ),
                "parameters": [queue],
            },
            "/api/dead/{queue}/purge": {
                **_post("delete the dead letters of a queue"),
                "parameters": [queue],
            },
            "/api/schedules": _get("schedules: trigger, next and last run, paused"),
            "/api/schedules/{name}/pause": {
                **_post("stop firing a schedule"),
                "parameters": [name],
            },
            "/api/schedules/{name}/resume": {**_post("fire it again"), "parameters": [name]},
            "/api/schedules/{name}/remove": {**_post("delete a schedule"), "parameters": [name]},
            "/api/workers": _get("workers of the registry: id, host, pid, queues, heartbeat"),
            "/api/csrf": _get("a CSRF token for POSTs made with cookies"),
            "/metrics": _get("Prometheus text format"),
        },
    }

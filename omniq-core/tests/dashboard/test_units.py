"""The pieces under the pages: redaction, the registry's reading, the extra's check, the CLI."""

from __future__ import annotations

import importlib.util
from datetime import timedelta
from pathlib import Path
from typing import Any

import omniq
import pytest
from omniq._time import utcnow
from omniq.cli import ExitCode, main
from omniq.dashboard import INSTALL_LINE, create_app, require_extra
from omniq.dashboard.redaction import MAX_ITEMS, arguments_view, payload_view, redact
from omniq.errors import ConfigurationError
from omniq.models.event import EventType, TaskEvent
from omniq.runtime.presence import list_workers, presence_id


def test_sensitive_keys_and_url_passwords_are_masked_and_long_values_cut() -> None:
    shown = redact(
        {
            "Password": "p",
            "db": {"dsn": "postgresql://u:hunter2@h/db", "API_KEY": "k"},
            "note": "x" * 2000,
            "items": list(range(MAX_ITEMS + 5)),
            "auth_token": ["a", "b"],
        }
    )
    assert shown["Password"] == "***" and shown["auth_token"] == "***"
    assert shown["db"] == {"dsn": "postgresql://u:***@h/db", "API_KEY": "***"}
    assert len(shown["note"]) < 600 and shown["note"].endswith("more characters)")
    assert len(shown["items"]) == MAX_ITEMS + 1 and shown["items"][-1] == "… 5 more"


def test_only_json_payloads_are_decoded() -> None:
    assert arguments_view(b'[[1], {"secret": "s"}]', "json") == {
        "args": [1],
        "kwargs": {"secret": "***"},
    }
    pickled = payload_view(b"\x80\x04K\x01.", "pickle")
    assert pickled == {"omitted": "pickle payload of 5 bytes (not decoded)"}
    assert "undecodable" in payload_view(b"{nope", "json")["omitted"]


async def test_the_registry_tells_running_stopped_and_lost_workers(tmp_path: Path) -> None:
    backend = omniq.load_backend("sqlite", database_path=str(tmp_path / "omniq.db"))
    events = backend.event_storage()
    await events.connect()
    now = utcnow()

    def beat(worker: str, kind: EventType, ago: float) -> TaskEvent:
        return TaskEvent(
            event_type=kind,
            task_id=presence_id(worker),
            worker_id=worker,
            timestamp=now - timedelta(seconds=ago),
            details={"host": "h.example.org", "pid": 7, "queues": ["q"], "concurrency": 4,
                     "heartbeat_interval": 15.0},
        )

    try:
        await events.append_many(
            [
                beat("h.example.org-1-A", EventType.WORKER_STARTED, 100),
                beat("h.example.org-1-A", EventType.WORKER_HEARTBEAT, 5),
                beat("h.example.org-2-B", EventType.WORKER_STARTED, 300),
                beat("h.example.org-2-B", EventType.WORKER_HEARTBEAT, 200),  # 3 beats missed
                beat("h.example.org-3-C", EventType.WORKER_STARTED, 50),
                beat("h.example.org-3-C", EventType.WORKER_STOPPED, 40),
                beat("h.example.org-4-D", EventType.WORKER_HEARTBEAT, 7200),  # out of window
            ]
        )
        workers = await list_workers(events, now=now)
    finally:
        await events.close()
        await backend.close()
    assert [(w.worker_id, w.state) for w in workers] == [
        ("h.example.org-1-A", "running"),
        ("h.example.org-2-B", "lost"),
        ("h.example.org-3-C", "stopped"),
    ]
    assert workers[0].queues == ("q",) and workers[0].concurrency == 4
    assert presence_id("h.example.org-1-A") == "h_example_org-1-A"


def test_a_missing_extra_names_the_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def without_uvicorn(name: str, *args: Any) -> Any:
        return None if name == "uvicorn" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_uvicorn)
    with pytest.raises(ConfigurationError) as caught:
        require_extra()
    assert INSTALL_LINE in str(caught.value) and "uvicorn" in str(caught.value)
    with pytest.raises(ConfigurationError):
        create_app(omniq.AsyncOmniQ(workers=0))


def test_the_command_refuses_to_open_the_dashboard_to_the_network_without_a_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OMNIQ_DASHBOARD_TOKEN", raising=False)
    code = main(["dashboard", "--host", "0.0.0.0", "--port", "1", "-q"])
    assert code == ExitCode.USAGE
    assert "--token TOKEN or set OMNIQ_DASHBOARD_TOKEN" in capsys.readouterr().err
    short = main(["dashboard", "--host", "0.0.0.0", "--token", "short", "-q"])
    assert short == ExitCode.USAGE

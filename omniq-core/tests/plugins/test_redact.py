"""No password survives in a URL or free text that OmniQ puts in a message or log line."""

from __future__ import annotations

import pytest
from omniq._redact import mask_secrets, mask_url
from omniq.logging import get_logger
from structlog.testing import capture_logs


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
        ("redis://user:hunter2@cache:6379/0", "redis://user:***@cache:6379/0"),
        ("postgresql://app:p@ss:w0rd@db/omniq", "postgresql://app:***@db/omniq"),
        (
            "postgresql://db/omniq?user=app&password=hunter2",
            "postgresql://db/omniq?user=app&password=***",
        ),
        ("nats://a:hunter2@n1:4222", "nats://a:***@n1:4222"),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("redis://user@cache", "redis://user@cache"),
        ("sqlite:///var/lib/omniq.db", "sqlite:///var/lib/omniq.db"),
        ("memory://", "memory://"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_mask_secrets_masks_every_url_and_dsn_password_in_text() -> None:
    text = (
        "connect to redis://u:one@h1/0 failed, then nats://x:two@h2:4222 failed; "
        "dsn was 'host=db password=three dbname=omniq'"
    )
    masked = mask_secrets(text)
    assert masked == (
        "connect to redis://u:***@h1/0 failed, then nats://x:***@h2:4222 failed; "
        "dsn was 'host=db password=*** dbname=omniq'"
    )


def test_get_logger_binds_context_with_passwords_masked() -> None:
    log = get_logger("omniq.test", backend="redis", url="redis://u:hunter2@h/0", queue="q")
    with capture_logs() as logs:
        log.info("claimed", count=2)
    assert logs == [
        {
            "event": "claimed",
            "log_level": "info",
            "backend": "redis",
            "url": "redis://u:***@h/0",
            "queue": "q",
            "count": 2,
        }
    ]

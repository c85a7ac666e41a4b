"""Every duration, count and priority is range-checked, wherever it is given: NaN, infinities,
negatives and values past the maximum raise :class:`InvalidValueError` naming the option, the
value and the allowed range."""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any

import pytest
from omniq import _validate as check
from omniq.errors import ConfigurationError, InvalidValueError, ValidationError
from omniq.models.config import OmniQConfig
from omniq.models.task import Task
from omniq.names import validate_priority
from omniq.runtime.worker import WorkerSettings

NAN, INF = math.nan, math.inf
TEN_YEARS = "315,360,000 (10 years)"


def assert_names(err: pytest.ExceptionInfo[InvalidValueError], field: str, shown: str) -> None:
    """The message names the option, the value and a range (or the error would not help)."""
    message = str(err.value)
    assert err.value.field == field
    assert message.startswith(f"Invalid {field} {shown}: use "), message
    assert err.value.allowed in message
    assert any(word in err.value.allowed for word in (" to ", "at most")), message


def test_the_error_is_a_configuration_error_and_a_value_error() -> None:
    assert issubclass(InvalidValueError, ConfigurationError)
    assert issubclass(InvalidValueError, ValidationError)
    assert issubclass(InvalidValueError, ValueError)


def test_the_error_survives_pickling() -> None:
    # an enqueue inside a process-pool task raises it in the child; the parent unpickles it
    err = pickle.loads(pickle.dumps(InvalidValueError("delay", NAN, "a number")))
    assert (err.field, err.allowed, str(err)) == (
        "delay",
        "a number",
        "Invalid delay nan: use a number",
    )


# -- OmniQConfig ----------------------------------------------------------------------------------

SECONDS_FIELDS = ["default_ttl", "lease_seconds", "shutdown_grace", "retry_backoff"]


@pytest.mark.parametrize("field", SECONDS_FIELDS)
@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (NAN, "nan"),
        (INF, "inf"),
        (-INF, "-inf"),
        (-1, "-1"),
        (10**12, "1000000000000"),
        (True, "True"),
    ],
)
def test_config_durations_refuse_non_finite_negative_and_huge(
    field: str, value: object, shown: str
) -> None:
    with pytest.raises(InvalidValueError) as err:
        OmniQConfig(**{field: value})
    assert_names(err, field, shown)
    assert TEN_YEARS in str(err.value)


def test_config_durations_accept_their_bounds() -> None:
    cfg = OmniQConfig(
        default_ttl=check.MAX_SECONDS,
        lease_seconds=0.001,
        shutdown_grace=0,
        retry_backoff=0,
    )
    assert (cfg.default_ttl, cfg.lease_seconds, cfg.shutdown_grace) == (check.MAX_SECONDS, 0.001, 0)
    assert OmniQConfig(default_ttl=None).default_ttl is None


def test_lease_seconds_must_be_above_zero() -> None:
    with pytest.raises(InvalidValueError, match=r"lease_seconds 0: use a number of seconds > 0"):
        OmniQConfig(lease_seconds=0)


def test_default_ttl_says_none_means_no_expiry() -> None:
    with pytest.raises(InvalidValueError, match=r"or None for no expiry"):
        OmniQConfig(default_ttl=NAN)


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("workers", -1, "an integer from 0 to 10,000 (0: no worker)"),
        ("workers", 10_001, "an integer from 0 to 10,000 (0: no worker)"),
        ("workers", 2.0, "an integer from 0 to 10,000 (0: no worker)"),
        ("default_max_retries", -1, "an integer from 0 to 10,000"),
        ("default_max_retries", 10**9, "an integer from 0 to 10,000"),
        ("max_payload_size", 0, "an integer from 1 to 536,870,912 bytes"),
        ("max_payload_size", 2**40, "an integer from 1 to 536,870,912 bytes"),
    ],
)
def test_config_counts_have_ranges(field: str, value: object, allowed: str) -> None:
    with pytest.raises(InvalidValueError) as err:
        OmniQConfig(**{field: value})
    assert err.value.allowed == allowed
    assert_names(err, field, repr(value))


@pytest.mark.parametrize(
    ("var", "text"),
    [
        ("OMNIQ_LEASE_SECONDS", "nan"),
        ("OMNIQ_LEASE_SECONDS", "inf"),
        ("OMNIQ_LEASE_SECONDS", "-5"),
        ("OMNIQ_DEFAULT_TTL", "NaN"),
        ("OMNIQ_SHUTDOWN_GRACE", "nan"),
        ("OMNIQ_RETRY_BACKOFF", "infinity"),
        ("OMNIQ_WORKERS", "1000000"),
        ("OMNIQ_DEFAULT_MAX_RETRIES", "-1"),
        ("OMNIQ_MAX_PAYLOAD_SIZE", "0"),
    ],
)
def test_environment_values_are_checked_and_the_variable_is_named(var: str, text: str) -> None:
    with pytest.raises(InvalidValueError) as err:
        OmniQConfig.from_env({var: text})
    assert_names(err, var, repr(text))


def test_yaml_nan_is_refused_with_the_file_named(tmp_path: Path) -> None:
    path = tmp_path / "omniq.yaml"
    path.write_text("lease_seconds: .nan\n")
    with pytest.raises(ConfigurationError) as err:
        OmniQConfig.from_yaml(path)
    assert str(path) in str(err.value)
    assert "Invalid lease_seconds nan: use a number of seconds > 0" in str(err.value)


def test_from_dict_checks_ranges() -> None:
    with pytest.raises(InvalidValueError, match="shutdown_grace inf"):
        OmniQConfig.from_dict({"shutdown_grace": INF})


# -- WorkerSettings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lease_seconds", NAN),
        ("lease_seconds", INF),
        ("lease_seconds", 0),
        ("shutdown_grace", NAN),
        ("shutdown_grace", -1),
        ("result_ttl", NAN),
        ("result_ttl", -1),
        ("idle_wait", INF),
        ("idle_wait", 0),
        ("recover_interval", NAN),
        ("retry_jitter", NAN),
        ("retry_jitter", 1.5),
        ("retry_jitter", -0.1),
        ("concurrency", 0),
        ("concurrency", 10**6),
        ("concurrency", 1.5),
        ("max_batch", 0),
        ("max_batch", 10**9),
        ("max_deliveries", 0),
        ("max_deliveries", 2.5),
        ("event_retention", NAN),
        ("event_retention", 0),
        ("purge_interval", INF),
    ],
)
def test_worker_settings_refuse_bad_values(field: str, value: object) -> None:
    with pytest.raises(InvalidValueError) as err:
        WorkerSettings(**{field: value})  # type: ignore[arg-type]
    assert_names(err, field, repr(value))


def test_worker_settings_accept_the_defaults_and_none_ttl() -> None:
    assert WorkerSettings(result_ttl=None, retry_jitter=0, shutdown_grace=0).result_ttl is None


# -- Task records and priorities ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("retry_backoff", NAN),
        ("retry_backoff", INF),
        ("retry_backoff", -1.0),
        ("timeout", NAN),
        ("timeout", INF),
        ("timeout", -1.0),
        ("result_ttl", NAN),
        ("result_ttl", 10.0**12),
        ("max_retries", -1),
        ("max_retries", 10**30),
        ("max_retries", 1.0),
    ],
)
def test_task_fields_refuse_bad_values(field: str, value: Any) -> None:
    with pytest.raises(InvalidValueError) as err:
        Task(func="m:f", **{field: value})
    assert_names(err, field, repr(value))


@pytest.mark.parametrize("value", [101, -101, 10**30, 1.0, NAN, True])
def test_priority_is_an_int_from_minus_100_to_100(value: object) -> None:
    with pytest.raises(InvalidValueError) as err:
        validate_priority(value)
    assert err.value.allowed == "an integer from -100 to 100 (higher runs first)"
    with pytest.raises(InvalidValueError):
        Task(func="m:f", priority=value)  # type: ignore[arg-type]


# -- the helper -----------------------------------------------------------------------------------


def test_a_very_long_value_is_cut_short_in_the_message() -> None:
    with pytest.raises(InvalidValueError) as err:
        check.seconds("delay", 10**400)
    assert len(str(err.value)) < 200
    assert "(401 characters)" in str(err.value)


def test_ports_are_1_to_65535() -> None:
    assert check.port("port", 65_535) == 65_535
    for bad in (0, 65_536, 99_999, -1, "6379", 6379.0):
        with pytest.raises(InvalidValueError, match="use an integer from 1 to 65,535"):
            check.port("port", bad)

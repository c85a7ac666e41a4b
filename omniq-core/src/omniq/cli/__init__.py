"""The ``omniq`` command line: run workers and schedulers, enqueue, inspect and manage queues.

Every command takes ``--app MODULE:ATTR`` or ``--config FILE`` (YAML; default: the ``OMNIQ_*``
environment), ``--json`` (one JSON document per line, for scripts), ``--log-level`` and ``-q``.
The command configures logging (see :mod:`omniq.cli.logs`); the library never does. Exit codes
are in :class:`omniq.cli.exit_codes.ExitCode`.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from omniq._redact import mask_secrets
from omniq.cli.commands import COMMANDS
from omniq.cli.exit_codes import ExitCode
from omniq.cli.logs import chosen_level, configure_logging
from omniq.cli.parser import build_parser
from omniq.errors import (
    BackendUnavailableError,
    ConfigurationError,
    OmniQError,
    StorageError,
    ValidationError,
)

__all__ = ["ExitCode", "main"]

_SERVING = ("worker", "scheduler")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``omniq`` command; returns its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return ExitCode.USAGE
    try:
        default = "INFO" if args.command in _SERVING else "WARNING"
        level = chosen_level(args.log_level, quiet=args.quiet, configured=None, default=default)
        configure_logging(level, as_json=args.json)
        return int(asyncio.run(COMMANDS[args.command](args)))
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except (BackendUnavailableError, StorageError, OSError) as exc:
        return _fail(exc, ExitCode.BACKEND)
    except (ConfigurationError, ValidationError, ValueError, LookupError) as exc:
        return _fail(exc, ExitCode.USAGE)
    except OmniQError as exc:
        return _fail(exc, ExitCode.TASK_FAILED)


def _fail(exc: BaseException, code: ExitCode) -> int:
    message = " ".join(str(exc).split())  # one line, whatever the error's own layout
    sys.stderr.write(f"omniq: error: {mask_secrets(message)}\n")
    return int(code)

"""The ``omniq`` command line: run workers and schedulers, enqueue, inspect and manage queues.

Every command takes ``--config FILE`` (YAML; default: the ``OMNIQ_*`` environment) and
``--json`` (one JSON document per line, for scripts). Exit codes are in
:class:`omniq.cli.exit_codes.ExitCode`.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from omniq._redact import mask_secrets
from omniq.cli.commands import COMMANDS
from omniq.cli.exit_codes import ExitCode
from omniq.cli.parser import build_parser
from omniq.errors import BackendError, ConfigurationError, OmniQError, StorageError, ValidationError

__all__ = ["ExitCode", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``omniq`` command; returns its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return ExitCode.USAGE
    try:
        return int(asyncio.run(COMMANDS[args.command](args)))
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except (ConfigurationError, ValidationError, ValueError) as exc:
        return _fail(exc, ExitCode.USAGE)
    except (BackendError, StorageError, OSError) as exc:
        return _fail(exc, ExitCode.BACKEND)
    except OmniQError as exc:
        return _fail(exc, ExitCode.TASK_FAILED)


def _fail(exc: BaseException, code: ExitCode) -> int:
    sys.stderr.write(f"omniq: error: {mask_secrets(str(exc))}\n")
    return int(code)

"""``scenario-run serve [options]``: options in, exit code out, no traceback for a mistake."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from ..errors import ProtoCompileError, ScenarioError
from .app import run
from .options import parse_options
from .workers import run_pool

EXIT_OK, EXIT_CANNOT_START, EXIT_INTERRUPTED = 0, 2, 130


def main(args: Sequence[str]) -> int:
    try:
        options = parse_options(args)
        if options.workers > 1:
            return run_pool(options, args)
        return asyncio.run(run(options))
    except ProtoCompileError as exc:
        _error(f"protos do not compile:\n{exc}")
    except ScenarioError as exc:  # bad options, a port in use, a broken --stubs file
        _error(str(exc))
    except KeyboardInterrupt:  # before the signal handlers are installed
        return EXIT_INTERRUPTED
    return EXIT_CANNOT_START


def _error(message: str) -> None:
    print(f"scenario-run serve: error: {message}", file=sys.stderr, flush=True)

"""Connection flags every client command shares, and running a command against a server.

Exit codes are decided here once (EXIT_CODES, which `masterdata --help` lists): 0
success, 1 the call failed (the message names the status and each bad field), 2 a
usage error (argparse exits 2 by itself; a `UsageError` raised later, such as an
unknown resource or a missing file, too) or a set-up mistake of serve, migrate or seed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeAlias

from masterdata.cli.output import print_error
from masterdata.client import Client, MasterdataError, Timeouts
from masterdata.client.config import DEFAULT_TARGET

OK, CALL_FAILED, USAGE, ROWS_REJECTED = 0, 1, 2, 3
#: What a shell reports for a command ended by Ctrl-C (128 + SIGINT).
INTERRUPTED = 130
#: Every exit code a `masterdata` command ends with, and when.
EXIT_CODES = {
    OK: "success; also when the reader of the output goes away (`| head`), "
    "and `serve` stopped by SIGTERM or SIGINT",
    CALL_FAILED: "a call failed (stderr names the status, the reason and each bad field); "
    "`seed` could not load its data; a worker of `serve --workers` died",
    USAGE: "a usage or set-up error: an unknown flag or resource, a missing file, "
    "unusable settings, a port in use, a database that is missing, unreachable "
    "or not migrated",
    ROWS_REJECTED: "`import` ran but rejected rows (see FILE.errors.csv)",
    INTERRUPTED: "interrupted by Ctrl-C",
}

#: What `add_subparsers` returns (not subscriptable at run time before Python 3.12).
Parsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

Command = Callable[[Client, argparse.Namespace], Awaitable[int]]


class UsageError(Exception):
    """The command line asks for something impossible; exit code 2."""


def connection_flags() -> argparse.ArgumentParser:
    """A parent parser with --target, --token, --tls-ca and --timeout."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection")
    group.add_argument(
        "--target",
        default=os.environ.get("MASTERDATA_TARGET", DEFAULT_TARGET),
        metavar="HOST:PORT",
        help=f"server address (env MASTERDATA_TARGET; default {DEFAULT_TARGET})",
    )
    group.add_argument(
        "--token",
        default=os.environ.get("MASTERDATA_TOKEN"),
        help="bearer token, an API key or a JWT (prefer env MASTERDATA_TOKEN: "
        "flags show in the process list)",
    )
    group.add_argument(
        "--tls-ca", metavar="FILE", help="PEM CA bundle to verify the server with (enables TLS)"
    )
    group.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="deadline of each call (default: 10 s reads, 30 s writes, none for "
        "imports, exports and event tails)",
    )
    return parent


def make_client(args: argparse.Namespace) -> Client:
    """The SDK client the connection flags describe."""
    if args.tls_ca is not None and not Path(args.tls_ca).is_file():
        raise UsageError(f"--tls-ca {args.tls_ca}: no such file")
    timeouts = Timeouts()
    if args.timeout is not None:
        if args.timeout <= 0:
            raise UsageError("--timeout must be positive")
        # The feed keeps no deadline: the SDK resubscribes after DEADLINE_EXCEEDED.
        timeouts = Timeouts(read=args.timeout, write=args.timeout, stream=args.timeout)
    return Client(args.target, token=args.token, tls_ca=args.tls_ca, default_timeouts=timeouts)


def client_command(command: Command) -> Callable[[argparse.Namespace], int]:
    """An argparse handler running `command` with a connected client, mapping failures."""

    def run(args: argparse.Namespace) -> int:
        try:
            return asyncio.run(_with_client(command, args))
        except MasterdataError as error:
            print_error(error)
            return CALL_FAILED
        except UsageError as error:
            return fail_usage(str(error))
        except BrokenPipeError:
            raise  # the reader of stdout went away: `main` ends quietly
        except OSError as error:  # a file to read or write
            print(f"masterdata: {error}", file=sys.stderr)
            return CALL_FAILED
        except KeyboardInterrupt:
            return INTERRUPTED

    return run


async def _with_client(command: Command, args: argparse.Namespace) -> int:
    async with make_client(args) as client:
        return await command(client, args)


def fail_usage(message: str) -> int:
    """Report a usage error found after parsing, the way argparse reports its own."""
    print(f"masterdata: error: {message}", file=sys.stderr)
    return USAGE

"""The `masterdata` command: call the service, and run, migrate and seed it.

Each module adds its subcommands with `register`, setting `run` (args -> exit code).
The exit codes are connection.EXIT_CODES, listed by `masterdata --help`.

The commands that run the service come from installed distributions that declare a
`register(commands)` in the "masterdata.cli" entry point group: the server's adds
serve, migrate, seed and relay. The client distribution alone has the client commands.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points

from masterdata.cli import bulk, events, reads
from masterdata.cli.connection import (
    EXIT_CODES,
    INTERRUPTED,
    OK,
    Parsers,
    UsageError,
    connection_flags,
    fail_usage,
)

#: Entry point group of the distributions that add commands (the server's).
COMMANDS_GROUP = "masterdata.cli"
DESCRIPTION = (
    "Call the masterdata gRPC service (--target, --token, --tls-ca and --timeout on "
    "each command) and, where the server is installed, run it (serve, migrate, seed, "
    "relay)."
)
WIDTH = 78


def exit_codes_text() -> str:
    """EXIT_CODES as an aligned, wrapped list for the end of `--help`."""
    lines = ["exit codes:"]
    for code, meaning in EXIT_CODES.items():
        lines += textwrap.wrap(
            meaning, WIDTH, initial_indent=f"  {code:<5}", subsequent_indent=" " * 7
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="masterdata",
        description=textwrap.fill(DESCRIPTION, WIDTH),
        epilog=exit_codes_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in installed_commands():
        register(commands)
    connection = connection_flags()
    for module in (bulk, events, reads):
        module.register(commands, connection)
    return parser


def installed_commands() -> list[Callable[[Parsers], None]]:
    """The `register` functions other installed distributions declare, by entry point name."""
    found = sorted(entry_points(group=COMMANDS_GROUP), key=lambda point: point.name)
    return [point.load() for point in found]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = int(args.run(args))
        sys.stdout.flush()  # output still buffered may find the reader gone, too
    except BrokenPipeError:
        return _reader_gone()
    except UsageError as error:
        return fail_usage(str(error))
    except KeyboardInterrupt:
        return INTERRUPTED
    return code


def _reader_gone() -> int:
    """The reader of stdout went away (`masterdata ... | head`): that is not a failure.

    As Python's documentation of SIGPIPE advises, stdout is pointed at devnull so the
    flush at exit does not fail again and print a second error.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return OK


if __name__ == "__main__":
    sys.exit(main())

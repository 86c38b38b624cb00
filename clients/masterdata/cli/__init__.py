"""The `masterdata` command: run, migrate and seed the service, and call it.

Each module adds its subcommands with `register`, setting `run` (args -> exit code).
Exit codes: 0 success, 1 a call failed, 2 a usage error; `import` adds 3 for an
import that ran but rejected rows.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from masterdata.cli import bulk, events, reads, server
from masterdata.cli.connection import UsageError, connection_flags, fail_usage

DESCRIPTION = (
    "Run, migrate and seed the masterdata gRPC service (serve, migrate, seed), "
    "and call it (the other commands; --target, --token, --tls-ca and --timeout "
    "on each). Exit codes: 0 success, 1 the call failed, 2 usage error."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="masterdata", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    server.register(commands)
    connection = connection_flags()
    for module in (bulk, events, reads):
        module.register(commands, connection)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except UsageError as error:
        return fail_usage(str(error))


if __name__ == "__main__":
    sys.exit(main())

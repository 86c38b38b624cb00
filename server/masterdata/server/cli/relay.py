"""`masterdata relay`: publish every event, in sequence order, to a NATS JetStream stream.

A command of the database side, like `serve`: the server package is imported when
it runs, not when the parser is built.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from masterdata.cli.connection import USAGE

#: Flags of `relay` that override RelaySettings (argparse dest = field).
RELAY_SETTINGS = ("nats_url", "stream", "subject_prefix", "encoding", "metrics_port")


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    database_flags: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add `relay` to the `masterdata` command."""
    relay = commands.add_parser(
        "relay",
        help="publish events to NATS JetStream, exactly once, in order",
        description=(
            "Publish every event, in sequence order, to a NATS JetStream stream, each once: "
            "resumes after the last event the stream holds; one relay publishes at a time "
            "(PostgreSQL), the others stand by. docs/relay.md has the guarantees. "
            "Each flag also reads MASTERDATA_RELAY_<NAME>."
        ),
    )
    database_flags(relay)
    flag = relay.add_argument
    flag(
        "--nats-url", metavar="URL", help="NATS server(s), comma-separated (nats://127.0.0.1:4222)"
    )
    flag("--stream", metavar="NAME", help="JetStream stream, created if missing (MASTERDATA)")
    flag("--subject-prefix", metavar="TOKEN", help="subjects are TOKEN.<aggregate>.<verb>")
    flag(
        "--json",
        dest="encoding",
        action="store_const",
        const="json",
        help="message bodies as the Event's JSON mapping (default: the Event protobuf)",
    )
    flag("--metrics-port", type=int, metavar="PORT", help="serve /metrics on this port (0 = off)")
    flag("--once", action="store_true", help="publish what is committed now, then exit")
    relay.set_defaults(run=_relay)


def _relay(args: argparse.Namespace) -> int:
    from masterdata.server.config import Settings
    from masterdata.server.observability.logs import configure_logging
    from masterdata.server.relay.command import run_relay
    from masterdata.server.relay.settings import RelaySettings

    settings = Settings.load(database_url=args.database_url)
    try:
        relay = RelaySettings.load(**{name: getattr(args, name) for name in RELAY_SETTINGS})
    except ValueError as error:
        print(f"masterdata: {error}", file=sys.stderr)
        return USAGE
    configure_logging(settings.log_level, settings.log_format)
    return run_relay(settings, relay, once=args.once)

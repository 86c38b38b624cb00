"""`masterdata events tail`: the event feed, one line (or one JSON object) per event.

It reads through the SDK's resumable subscription, so a server restart while
following costs nothing: the tail resumes after the last event it printed.
`--no-follow` stops at the `caught_up` marker, after the events recorded so far.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncGenerator

from masterdata.cli.connection import Parsers, UsageError, client_command
from masterdata.cli.output import to_json
from masterdata.client import Client, FeedCursor, MasterdataError
from masterdata.client.feed import RESUMABLE_CODES
from masterdata.v1 import events_pb2


def register(commands: Parsers, connection: argparse.ArgumentParser) -> None:
    """Add `events tail`."""
    what = commands.add_parser(
        "events", help="read the event feed", description="Read the event feed."
    ).add_subparsers(dest="what", required=True, metavar="COMMAND")
    tail = what.add_parser(
        "tail",
        parents=[connection],
        help="print events as they are recorded",
        description="Print the events after --after, then (with --follow, the default) "
        "new ones as they commit, until interrupted. One line per event: sequence, "
        "time, event type, aggregate id, version, actor and changed fields.",
    )
    tail.add_argument(
        "--after", type=int, default=0, metavar="N", help="start after sequence N (default 0)"
    )
    tail.add_argument(
        "--type",
        dest="event_types",
        action="append",
        default=[],
        metavar="EVENT_TYPE",
        help="only this event type, e.g. commodity.created (repeatable)",
    )
    tail.add_argument(
        "--aggregate",
        dest="aggregate_types",
        action="append",
        default=[],
        metavar="TYPE",
        help="only this aggregate type, e.g. commodity (repeatable)",
    )
    tail.add_argument("--json", action="store_true", help="one protobuf JSON object per line")
    tail.add_argument(
        "--follow",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep waiting for new events (default); --no-follow stops when caught up",
    )
    tail.set_defaults(run=client_command(_tail))


def event_line(event: events_pb2.Event) -> str:
    """One readable line: what happened to which resource, when and by whom."""
    time = event.occur_time.ToDatetime().isoformat(timespec="milliseconds") + "Z"
    line = (
        f"{event.sequence:>8}  {time}  {event.event_type:<32}  {event.aggregate_id}"
        f"  v{event.aggregate_version}  {event.actor}"
    )
    if event.changed_fields.paths:
        line += "  changed: " + ",".join(event.changed_fields.paths)
    return line


async def feed_items(
    client: Client, cursor: FeedCursor, follow: bool
) -> AsyncGenerator[events_pb2.SubscribeEventsResponse, None]:
    """The stream items after `cursor`; a failed first connection is raised, not retried.

    Once connected, a follow resumes through the SDK after a restart or outage.
    """
    call = client.events.SubscribeEvents(cursor.request())
    connected = False
    try:
        async for item in call:
            connected = True
            for single in cursor.accept(item):
                yield single
    except MasterdataError as error:
        if not (follow and connected and error.code in RESUMABLE_CODES):
            raise
    finally:
        call.cancel()
    if follow:
        items = client.subscribe_items(cursor)
        try:
            async for item in items:
                yield item
        finally:
            await items.aclose()


async def _tail(client: Client, args: argparse.Namespace) -> int:
    if args.after < 0:
        raise UsageError("--after must be 0 or more")
    cursor = FeedCursor(args.after, tuple(args.aggregate_types), tuple(args.event_types))
    items = feed_items(client, cursor, args.follow)
    try:
        async for item in items:
            kind = item.WhichOneof("kind")
            if kind == "event":
                text = to_json(item.event, indent=None) if args.json else event_line(item.event)
                print(text, flush=True)
            elif kind == "caught_up" and not args.follow:
                break
    finally:
        await items.aclose()
    return 0

"""Server CPU per call of the main RPCs, beside a no-op grpc.aio server's, in one run.

    .venv/bin/python bench/cpu_per_call.py [--calls 2000] [--concurrency 20] [--json-out PATH]
    .venv/bin/python bench/cpu_per_call.py --quick     # CI smoke test, well under a minute

Capacity per core is what operators pay for, and on a shared machine its steadiest
measure is the CPU the server process itself spends per call: user + system time from
the kernel (/proc/<pid>/stat), read before and after N calls sent from this process
(whose own CPU is therefore not counted; the kernel counts in 10 ms ticks, so a figure
needs hundreds of calls to be read to a few per cent). The server is the real
`masterdata serve` on a scratch PostgreSQL database (or --database-url, an empty one)
holding 1,000 imported commodities and an organization with an active financial year and
an INVOICE series; it runs with its default settings (one process, INFO log with a line
per call). The yardstick is a no-op grpc.aio server in a process of its own
(bench/noop_process.py), measured the same way before and after the RPCs: their mean is
the baseline, and the two show the drift of the machine during the run.

Each RPC runs at a fixed number of concurrent callers on one channel (as one SDK client
would), after a warm-up of the same calls; a short quiet pause precedes each CPU reading
so that every window holds its own calls' work. Requests are built before they are sent.
Writes carry a fresh request_id as the SDK fills in; creates use fresh names; updates
change the description of existing commodities (update_mask, no etag, so a row updated
twice never races itself); deletes remove distinct commodities, those the create made.

Prints a table; the JSON report goes to --json-out, else to stdout after the table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import platform
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import grpc
from google.protobuf import field_mask_pb2
from grpc import aio

from bench.common import emit
from bench.load.__main__ import ADMIN_URL, database
from bench.load.dataset import (
    MARKETS,
    STAPLES,
    create_numbering,
    import_commodities,
    list_commodities,
    settle,
)
from bench.load.probes import cpu_seconds, machine_ticks
from bench.load.report import write_json
from bench.load.server import Server, run_command, start_server, stop_server
from bench.noop_process import running_noop
from masterdata.v1 import commodity_pb2 as pb
from masterdata.v1 import (
    commodity_pb2_grpc,
    location_pb2,
    location_pb2_grpc,
    organization_pb2,
    organization_pb2_grpc,
)

CALL_TIMEOUT_S = 30.0
QUIET_S = 0.2
BATCH_GET_IDS = 20
PAGE_SIZE = 20
NOOP = "no-op (grpc.aio)"
READ_FLOOR = "+ asyncpg row by id"
#: Most server CPU per call, as a multiple of the no-op's (issue 18's targets).
TARGETS: dict[str, float | None] = {
    "GetCommodity": 1.6,
    "BatchGetCommodities": 3.0,
    "ListCommodities": 2.5,
    "SearchCommodities": 3.0,
    "CreateCommodity": 4.0,
    "UpdateCommodity": 4.0,
    "DeleteCommodity": 4.0,
    "CreateLocation": None,  # measured; the issue sets no target of its own for it
    "NextDocumentNumber": 3.0,
}
Call = Callable[..., Awaitable[Any]]


class RoundRobin:
    """One stub per channel, each call on the next: with `--workers`, every worker
    gets its share of the connections (the kernel spreads them over SO_REUSEPORT)."""

    def __init__(self, stubs: list[Any]) -> None:
        self._stubs = stubs
        self._turn = itertools.cycle(range(len(stubs)))

    def __getattr__(self, method: str) -> Call:
        calls = [getattr(stub, method) for stub in self._stubs]

        def call(*args: Any, **kwargs: Any) -> Awaitable[Any]:
            return calls[next(self._turn)](*args, **kwargs)

        return call


@dataclass
class Fixture:
    """What the request builders draw on: stubs, the loaded data, and what creates made."""

    channels: list[aio.Channel]
    ids: list[str]
    organization_id: str
    tag: str
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    created: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.commodities: Any = RoundRobin(
            [commodity_pb2_grpc.CommodityServiceStub(c) for c in self.channels]
        )
        self.locations: Any = RoundRobin(
            [location_pb2_grpc.LocationServiceStub(c) for c in self.channels]
        )
        self.organizations: Any = RoundRobin(
            [organization_pb2_grpc.OrganizationServiceStub(c) for c in self.channels]
        )


CATEGORIES = sorted({category for _, category, _ in STAPLES})


def request_id() -> str:
    return str(uuid.uuid4())


# ---- the measured RPCs: each gives the call and `n` requests ---------------------


def get(f: Fixture, n: int) -> tuple[Call, list[Any]]:
    requests = [pb.GetCommodityRequest(id=f.rng.choice(f.ids)) for _ in range(n)]
    return f.commodities.GetCommodity, requests


def batch_get(f: Fixture, n: int) -> tuple[Call, list[Any]]:
    size = min(BATCH_GET_IDS, len(f.ids))
    requests = [pb.BatchGetCommoditiesRequest(ids=f.rng.sample(f.ids, size)) for _ in range(n)]
    return f.commodities.BatchGetCommodities, requests


def list_(f: Fixture, n: int) -> tuple[Call, list[Any]]:
    requests = [
        pb.ListCommoditiesRequest(
            filter=f'category = "{CATEGORIES[i % len(CATEGORIES)]}" AND is_active = true',
            order_by="name",
            page_size=PAGE_SIZE,
        )
        for i in range(n)
    ]
    return f.commodities.ListCommodities, requests


def search(f: Fixture, n: int) -> tuple[Call, list[Any]]:
    terms = [name for name, _, _ in STAPLES]
    requests = [
        pb.SearchCommoditiesRequest(query=terms[i % len(terms)], page_size=PAGE_SIZE)
        for i in range(n)
    ]
    return f.commodities.SearchCommodities, requests


def create(f: Fixture, n: int) -> tuple[Call, list[Any]]:
    requests = [
        pb.CreateCommodityRequest(
            commodity=pb.Commodity(
                name=f"CPU bench {f.tag} {i:06d}",
                category=CATEGORIES[i % len(CATEGORIES)],
                gst_rate="5.00",
            ),
            request_id=request_id(),
        )
        for i in range(n)
    ]

    async def call(request: pb.CreateCommodityRequest, **kwargs: Any) -> Any:
        reply = await f.commodities.CreateCommodity(request, **kwargs)
        f.created.append(reply.commodity.id)  # for the deletes
        return reply

    return call, requests


def update(f: Fixture, n: int) -> tuple[Call, list[Any]]:
    requests = [
        pb.UpdateCommodityRequest(
            commodity=pb.Commodity(id=f.ids[i % len(f.ids)], description=f"Revised note {i}"),
            update_mask=field_mask_pb2.FieldMask(paths=["description"]),
            request_id=request_id(),
        )
        for i in range(n)
    ]
    return f.commodities.UpdateCommodity, requests


def delete(f: Fixture, n: int) -> tuple[Call, list[Any]]:
    if len(f.created) < n:
        raise RuntimeError(f"{n} deletes need as many created commodities: {len(f.created)}")
    requests = [pb.DeleteCommodityRequest(id=id_, request_id=request_id()) for id_ in f.created]
    f.created = []
    return f.commodities.DeleteCommodity, requests[:n]


def create_location(f: Fixture, n: int) -> tuple[Call, list[Any]]:
    requests = []
    for i in range(n):
        state, city = MARKETS[i % len(MARKETS)]
        location = location_pb2.Location(
            name=f"CPU bench yard {f.tag} {i:06d}", state_code=state, city=city
        )
        requests.append(
            location_pb2.CreateLocationRequest(location=location, request_id=request_id())
        )
    return f.locations.CreateLocation, requests


def next_number(f: Fixture, n: int) -> tuple[Call, list[Any]]:
    requests = [
        organization_pb2.NextDocumentNumberRequest(
            organization_id=f.organization_id, document_type="INVOICE", request_id=request_id()
        )
        for _ in range(n)
    ]
    return f.organizations.NextDocumentNumber, requests


RPCS: dict[str, Callable[[Fixture, int], tuple[Call, list[Any]]]] = {
    "GetCommodity": get,
    "BatchGetCommodities": batch_get,
    "ListCommodities": list_,
    "SearchCommodities": search,
    "CreateCommodity": create,
    "UpdateCommodity": update,
    "DeleteCommodity": delete,
    "CreateLocation": create_location,
    "NextDocumentNumber": next_number,
}


# ---- measuring -------------------------------------------------------------------


async def drive(call: Call, requests: list[Any], concurrency: int) -> list[Any]:
    """Send every request, `concurrency` at a time (closed loop); the replies in order."""
    replies: list[Any] = [None] * len(requests)
    pending = iter(enumerate(requests))

    async def caller() -> None:
        for i, request in pending:
            replies[i] = await call(request, timeout=CALL_TIMEOUT_S)

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return replies


def cpu_of(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


async def cpu_per_call(
    call: Call, requests: list[Any], warmup: int, concurrency: int, pids: list[int]
) -> dict[str, Any]:
    """Warm up with the first `warmup` requests, then the server CPU of the rest."""
    await drive(call, requests[:warmup], concurrency)
    await asyncio.sleep(QUIET_S)
    cpu_before, started = cpu_of(pids), time.perf_counter()
    replies = await drive(call, requests[warmup:], concurrency)
    seconds = time.perf_counter() - started
    await asyncio.sleep(QUIET_S)
    cpu = cpu_of(pids) - cpu_before
    calls = len(replies)
    figure: dict[str, Any] = {
        "calls": calls,
        "seconds": round(seconds, 3),
        "calls_per_s": round(calls / seconds, 1),
        "cpu_s": round(cpu, 3),
        "cpu_us_per_call": round(1e6 * cpu / calls, 1),
    }
    if replies and hasattr(replies[0], "commodities"):  # reads of many: what they returned
        figure["mean_items"] = round(sum(len(r.commodities) for r in replies) / calls, 1)
    return figure


async def idle_cpu(pids: list[int], seconds: float) -> float:
    """Milliseconds of CPU per second the server spends with no calls (its background)."""
    before = cpu_of(pids)
    await asyncio.sleep(seconds)
    return round(1000 * (cpu_of(pids) - before) / seconds, 2)


async def noop_figure(port: int, pid: int, n: int, warmup: int, concurrency: int) -> Any:
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary("/bench.Noop/Call")
        return await cpu_per_call(call, [b""] * n, warmup, concurrency, [pid])


async def read_floor_figure(
    port: int, pid: int, ids: list[str], n: int, warmup: int, concurrency: int
) -> Any:
    """The no-op process reading one commodity by id per call on raw asyncpg."""
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary("/bench.Noop/ReadRow")
        requests = [ids[i % len(ids)].encode() for i in range(n)]
        return await cpu_per_call(call, requests, warmup, concurrency, [pid])


async def load(channels: list[aio.Channel], commodities: int) -> Fixture:
    tag = uuid.uuid4().hex[:6].upper()
    channel = channels[0]
    await import_commodities(channel, commodities)
    ids = [id_ for id_, _ in await list_commodities(channel)]
    return Fixture(channels, ids, await create_numbering(channel, tag), tag)


# ---- the run -----------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            models = [line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line]
    except OSError:
        return ""
    return models[0] if models else ""


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    warmup = args.warmup if args.warmup is not None else max(args.concurrency, args.calls // 10)
    report: dict[str, Any] = {
        "benchmark": "cpu_per_call",
        "config": {
            "calls": args.calls,
            "warmup": warmup,
            "concurrency": args.concurrency,
            "commodities": args.commodities,
            "quick": args.quick,
            "server": f"masterdata serve --workers {args.workers} (PostgreSQL)",
            "workers": args.workers,
            "server_env": args.server_env,
            "batch_get_ids": BATCH_GET_IDS,
            "page_size": PAGE_SIZE,
        },
        "machine_before": machine(),
    }
    busy_before = machine_ticks()
    env = dict(item.split("=", 1) for item in args.server_env)
    async with database(args) as url:
        await run_command(["migrate"], url)
        await run_command(["seed"], url)
        server = await start_server(url, args.workers, env)
        try:
            report |= await measure_all(args, server, url, warmup)
        finally:
            report["server_exit_code"] = await stop_server(server)
    busy, total = machine_ticks()
    busy_share = (busy - busy_before[0]) / max(1, total - busy_before[1])
    report["machine_after"] = machine() | {"machine_cpu_busy_pct": round(100 * busy_share, 1)}
    return report


async def measure_all(
    args: argparse.Namespace, server: Server, url: str, warmup: int
) -> dict[str, Any]:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    async with running_noop(dsn) as noop, contextlib.AsyncExitStack() as stack:
        # With several workers, several connections (a channel each, not sharing the
        # process-wide subchannel pool), so that each worker serves some of them.
        count = 1 if args.workers == 1 else 4 * args.workers
        options = [("grpc.use_local_subchannel_pool", 1)]
        channels = [
            await stack.enter_async_context(aio.insecure_channel(server.target, options=options))
            for _ in range(count)
        ]
        fixture = await load(channels, args.commodities)
        await settle(dsn, server.database)
        measured = warmup, args.concurrency
        idle = await idle_cpu(server.pids, 0.5 if args.quick else 2.0)
        noop_before = await noop_figure(noop.port, noop.pid, warmup + args.calls, *measured)
        read_floor = await read_floor_figure(
            noop.port, noop.pid, fixture.ids, warmup + args.calls, *measured
        )
        rpcs = {}
        for name, build in RPCS.items():
            if args.rpcs and name not in args.rpcs:
                continue
            call, requests = build(fixture, warmup + args.calls)
            rpcs[name] = await cpu_per_call(call, requests, *measured, server.pids)
            print(f"{name}: {rpcs[name]}", file=sys.stderr)
        noop_after = await noop_figure(noop.port, noop.pid, warmup + args.calls, *measured)
    baseline = round((noop_before["cpu_us_per_call"] + noop_after["cpu_us_per_call"]) / 2, 1)
    read_floor["ratio"] = round(read_floor["cpu_us_per_call"] / baseline, 2) if baseline else None
    for name, figure in rpcs.items():
        ratio = round(figure["cpu_us_per_call"] / baseline, 2) if baseline else None
        target = TARGETS[name]
        met = None if target is None or ratio is None else ratio <= target
        figure |= {"ratio": ratio, "target": target, "met": met}
    return {
        "dataset": {"commodities": len(fixture.ids)},
        "server_idle_cpu_ms_per_s": idle,
        "noop": {
            "cpu_us_per_call": baseline,
            "before": noop_before,
            "after": noop_after,
        },
        "read_floor": read_floor,
        "rpcs": rpcs,
        "targets": {
            name: {"ratio": f["ratio"], "limit": f["target"], "met": f["met"]}
            for name, f in rpcs.items()
            if f["target"] is not None
        },
    }


ROW = "{:<22} {:>6} {:>19} {:>8} {:>7}  {}"


def table(report: dict[str, Any]) -> str:
    noop = report["noop"]
    rows = [
        ROW.format("RPC", "calls", "server CPU us/call", "x no-op", "target", "met"),
        ROW.format(NOOP, noop["before"]["calls"], f"{noop['cpu_us_per_call']:.1f}", "1.00", "", ""),
    ]
    floor = report["read_floor"]
    rows.append(
        ROW.format(
            READ_FLOOR, floor["calls"], f"{floor['cpu_us_per_call']:.1f}", floor["ratio"], "", ""
        )
    )
    for name, f in report["rpcs"].items():
        target = f"<={f['target']:g}" if f["target"] is not None else "-"
        met = {True: "yes", False: "NO", None: ""}[f["met"]]
        ratio = f"{f['ratio']:.2f}" if f["ratio"] is not None else "-"
        rows.append(ROW.format(name, f["calls"], f"{f['cpu_us_per_call']:.1f}", ratio, target, met))
    config, after = report["config"], report["machine_after"]
    rows.append(
        f"no-op before/after: {noop['before']['cpu_us_per_call']} / "
        f"{noop['after']['cpu_us_per_call']} us; server idle "
        f"{report['server_idle_cpu_ms_per_s']} ms CPU/s; concurrency {config['concurrency']}; "
        f"machine busy {after['machine_cpu_busy_pct']}% of {after['cpus']} CPUs"
    )
    return "\n".join(rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke: 200 calls, 100 rows")
    parser.add_argument("--calls", type=int, help="measured calls per RPC (default 2000)")
    parser.add_argument("--warmup", type=int, help="calls before each (default calls/10)")
    parser.add_argument("--concurrency", type=int, default=20, help="concurrent callers")
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes (CPU summed over them)"
    )
    parser.add_argument(
        "--rpcs",
        type=lambda value: value.split(","),
        default=[],
        help=f"comma-separated, of {', '.join(RPCS)} (default all)",
    )
    parser.add_argument("--commodities", type=int, help="imported first (default 1000)")
    parser.add_argument("--database-url", help="an empty database to use, not a scratch one")
    parser.add_argument("--admin-url", default=ADMIN_URL, help="asyncpg URL for scratch DBs")
    parser.add_argument(
        "--server-env", action="append", default=[], metavar="KEY=VALUE", help="for the server"
    )
    parser.add_argument("--json-out", help="write the JSON report here (else to stdout)")
    args = parser.parse_args(argv)
    args.calls = args.calls or (200 if args.quick else 2000)
    args.commodities = args.commodities or (100 if args.quick else 1000)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = asyncio.run(run(args))
    print(table(report))
    if args.json_out:
        write_json(report, args.json_out)
    else:
        emit(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

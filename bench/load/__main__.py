"""Command line of the load generator: pick a scenario, scale it, run it, report.

    .venv/bin/python -m bench.load --scenario a --workers 2 --json-out a.json
    .venv/bin/python -m bench.load --scenario smoke --workers 2   # a few seconds

By default a scratch PostgreSQL database is created beside --admin-url, migrated,
seeded and dropped at the end, and `masterdata serve` is started on it; with
--target the load goes to a server that is already running (its metrics ports
and pid, when given, feed the server figures).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import sys
from collections.abc import AsyncIterator
from typing import Any

from grpc import aio

from bench.load import scenarios
from bench.load.dataset import load_dataset, settle
from bench.load.probes import Probe
from bench.load.report import table, write_json
from bench.load.server import (
    Server,
    database_name,
    run_command,
    start_server,
    stop_server,
    worker_pids,
)

ADMIN_URL = "postgresql://root@127.0.0.1:5432/test"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--scenario", choices=sorted(scenarios.PRESETS), default="a")
    parser.add_argument("--workers", type=int, default=1, help="server processes (serve --workers)")
    scale = parser.add_argument_group("scale (defaults: the scenario's preset)")
    scale.add_argument("--rate", type=float, help="offered calls/s (saturation: the first step)")
    scale.add_argument("--duration", type=float, help="seconds of load (saturation: per step)")
    scale.add_argument("--connections", type=int, help="client connections in total")
    scale.add_argument("--subscribers", type=int, help="open SubscribeEvents streams")
    scale.add_argument("--clients", type=int, help="client processes")
    scale.add_argument("--warmup", type=float, help="seconds of unreported load first")
    scale.add_argument("--import-rows", type=int, help="rows of the big import (scenario d)")
    scale.add_argument("--step-factor", type=float, help="saturation: rate multiplier per step")
    scale.add_argument("--max-steps", type=int, help="saturation: most steps")
    scale.add_argument("--fixed-rate", action="store_true", help="even spacing, not Poisson")
    data = parser.add_argument_group("starting data")
    data.add_argument("--commodities", type=int, default=10_000)
    data.add_argument("--locations", type=int, default=200)
    data.add_argument("--delivery-terms", type=int, default=100)
    where = parser.add_argument_group("server")
    where.add_argument("--target", help="host:port of a running server (nothing is started)")
    where.add_argument("--metrics-port", type=int, help="with --target: worker 0's metrics port")
    where.add_argument("--server-pid", type=int, help="with --target: its (supervisor) pid")
    where.add_argument(
        "--database-url",
        help="an empty database to use instead of a scratch one (with --target: the one it "
        "serves, to measure its PostgreSQL backends' CPU)",
    )
    where.add_argument("--admin-url", default=ADMIN_URL, help="asyncpg URL for scratch databases")
    where.add_argument(
        "--server-env", action="append", default=[], metavar="KEY=VALUE", help="for the server"
    )
    parser.add_argument("--json-out", help="write the JSON report here")
    return parser.parse_args(argv)


def plan_of(args: argparse.Namespace) -> scenarios.Plan:
    flags = {
        "rate": args.rate,
        "duration_s": args.duration,
        "connections": args.connections,
        "subscribers": args.subscribers,
        "clients": args.clients,
        "warmup_s": args.warmup,
        "big_import_rows": args.import_rows,
        "step_factor": args.step_factor,
        "max_steps": args.max_steps,
    }
    plan = scenarios.PRESETS[args.scenario]
    plan = dataclasses.replace(plan, **{k: v for k, v in flags.items() if v is not None})
    return dataclasses.replace(plan, poisson=not args.fixed_rate)


@contextlib.asynccontextmanager
async def database(args: argparse.Namespace) -> AsyncIterator[str]:
    """The SQLAlchemy URL of the database to serve: given, or a scratch one."""
    if args.database_url:
        yield args.database_url
        return
    from bench.common import scratch_database  # imports the server; only needed here

    async with scratch_database(args.admin_url) as dsn:
        yield dsn.replace("postgresql://", "postgresql+asyncpg://", 1)


@contextlib.asynccontextmanager
async def server_for(args: argparse.Namespace, outcome: dict[str, Any]) -> AsyncIterator[Server]:
    """The server under test; `outcome["server_exit_code"]` once it has stopped."""
    if args.target:
        ports = [args.metrics_port + i for i in range(args.workers)] if args.metrics_port else []
        pids = worker_pids(args.server_pid) if args.server_pid else []
        name = database_name(args.database_url) if args.database_url else ""
        yield Server(args.target, ports, args.server_pid, pids=pids, database=name)
        return
    env = dict(item.split("=", 1) for item in args.server_env)
    async with database(args) as url:
        await run_command(["migrate"], url)
        await run_command(["seed"], url)
        server = await start_server(url, args.workers, env)
        try:
            yield server
        finally:
            outcome["server_exit_code"] = await stop_server(server)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    plan = plan_of(args)
    report: dict[str, Any] = {
        "scenario": plan.scenario,
        "config": scenarios.plan_config(plan, args.workers),
        "machine_before": scenarios.machine(),
    }
    async with (
        server_for(args, report) as server,
        aio.insecure_channel(server.target) as channel,
    ):
        data = await load_dataset(
            channel,
            commodities=args.commodities,
            locations=args.locations,
            terms=args.delivery_terms,
        )
        if server.database:
            await settle(args.admin_url, server.database)
        report["dataset"] = {
            "commodities": len(data.commodities),
            "locations": len(data.locations),
            "delivery_terms": len(data.delivery_terms),
        }
        probe = Probe(server.metrics_ports, server.pids, server.database)
        report |= await scenarios.Run(plan, server.target, probe, data).execute(channel)
    report["machine_after"] = scenarios.machine()
    if plan.saturate:
        report["capacity"] = scenarios.capacity(report["phases"])
    if "bulk_import" in report["phases"][-1]:
        report["bulk_import"] = report["phases"][-1]["bulk_import"]
    report["targets"] = scenarios.targets(report, plan)
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = asyncio.run(run(args))
    if args.json_out:
        write_json(report, args.json_out)
    print(table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

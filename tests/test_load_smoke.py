"""CI smoke of the load generator (bench/load): a few seconds against `serve --workers 2`.

It asserts correctness only — no unexpected error, every subscriber received every
committed event exactly once and in order, document numbers unique and gap-free, a
graceful server exit, the report's shape — never speed: CI machines are loaded.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from processes import run_process

ROOT = Path(__file__).resolve().parent.parent
RUN_TIMEOUT_S = 240.0  # below pytest-timeout (300 s), so a hang shows its output
SMALL = [
    "--scenario", "smoke", "--workers", "2", "--clients", "2", "--connections", "20",
    "--rate", "50", "--duration", "3", "--warmup", "1", "--subscribers", "5",
    "--commodities", "500", "--locations", "20", "--delivery-terms", "20",
]  # fmt: skip
CLASSES = {"read", "write", "next_number", "import"}
LATENCY = {"count", "p50_ms", "p95_ms", "p99_ms", "max_ms"}


async def run_load(database_url: str, json_out: Path) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASTERDATA_")}
    result = await run_process(
        sys.executable,
        "-m",
        "bench.load",
        *SMALL,
        "--database-url",
        database_url,
        "--json-out",
        str(json_out),
        cwd=ROOT,
        env=env,
        timeout_s=RUN_TIMEOUT_S,
        merge_stderr=True,
    )
    return result.returncode, result.stdout


async def test_load_smoke(empty_postgres_url: str, tmp_path: Path) -> None:
    json_out = tmp_path / "load.json"
    code, output = await run_load(empty_postgres_url, json_out)
    assert code == 0, output
    report: dict[str, Any] = json.loads(json_out.read_text())

    assert report["server_exit_code"] == 0, output
    assert report["config"]["workers"] == 2
    assert report["dataset"]["commodities"] >= 500
    [phase] = report["phases"]
    check_phase(phase)
    check_events(report["events"])
    numbers = report["document_numbers"]
    assert numbers["received"] > 0 and numbers["duplicates"] == 0, numbers
    assert numbers["gap_free_from_1"], numbers
    assert report["targets"]["no_unexpected_errors"]
    assert report["targets"]["every_subscriber_got_every_event"]


def check_phase(phase: dict[str, Any]) -> None:
    assert phase["errors"]["unexpected"] == {}, phase["errors"]
    assert phase["errors"]["client_side"] == {}, phase["errors"]
    assert phase["unfinished"] == 0 and phase["dropped_by_client"] == 0
    assert phase["calls"] > 0
    assert set(phase["classes"]) == CLASSES
    for stats in [*phase["classes"].values(), *phase["methods"].values()]:
        assert set(stats) == LATENCY
    assert {"GetCommodity", "ListCommodities", "UpdateCommodity"} <= set(phase["methods"])
    server = phase["server"]
    assert len(server["workers"]) == 2 and len(server["processes"]) == 2
    assert sum(w["rpc_calls"] for w in server["workers"]) > 0
    assert sum(w["gc_pauses"] for w in server["workers"]) > 0  # a busy worker collects
    assert all(p["rss_mib_max"] > 0 for p in server["processes"])


def check_events(events: dict[str, Any]) -> None:
    assert events["subscribers"] == 5
    assert events["caught_up_at_start"] == 5
    assert events["events_committed"] > 0
    assert events["errors"] == {}
    assert events["incomplete_subscribers"] == 0, events
    assert events["out_of_order_or_duplicate"] == 0, events
    assert events["deliveries"] == events["deliveries_expected"]

"""CI smoke of bench/cpu_per_call.py --quick: it runs, and reports every RPC beside the no-op.

It checks the report only — every RPC measured with all its calls, a positive server CPU
figure and a ratio, the targets judged, a clean server exit — never speed: CI machines
are loaded, and the figures are read from a full run.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from processes import run_process

ROOT = Path(__file__).resolve().parent.parent
RUN_TIMEOUT_S = 120.0  # --quick takes well under a minute; this only bounds a hang
RPCS = {
    "GetCommodity",
    "BatchGetCommodities",
    "ListCommodities",
    "SearchCommodities",
    "CreateCommodity",
    "UpdateCommodity",
    "DeleteCommodity",
    "CreateLocation",
    "NextDocumentNumber",
}


async def test_cpu_per_call_quick(empty_postgres_url: str, tmp_path: Path) -> None:
    json_out = tmp_path / "cpu.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASTERDATA_")}
    result = await run_process(
        sys.executable,
        "bench/cpu_per_call.py",
        "--quick",
        "--database-url",
        empty_postgres_url,
        "--json-out",
        str(json_out),
        cwd=ROOT,
        env=env,
        timeout_s=RUN_TIMEOUT_S,
        merge_stderr=True,
    )
    assert result.returncode == 0, result.stdout
    report: dict[str, Any] = json.loads(json_out.read_text())

    assert report["server_exit_code"] == 0, result.stdout
    calls = report["config"]["calls"]
    noop = report["noop"]
    assert noop["cpu_us_per_call"] > 0
    assert noop["before"]["calls"] == noop["after"]["calls"] == calls
    read_floor = report["read_floor"]  # the no-op process reading a row by id
    assert read_floor["calls"] == calls and read_floor["ratio"] > 0, read_floor
    assert set(report["rpcs"]) == RPCS
    for name, figure in report["rpcs"].items():
        assert figure["calls"] == calls, name
        assert figure["cpu_us_per_call"] > 0, (name, figure)
        assert figure["ratio"] > 0, (name, figure)
        assert figure["ratio"] == round(figure["cpu_us_per_call"] / noop["cpu_us_per_call"], 2)
        assert name in result.stdout  # its row of the table
    for name in ("BatchGetCommodities", "ListCommodities", "SearchCommodities"):
        assert report["rpcs"][name]["mean_items"] > 0, name  # the reads found rows
    assert set(report["targets"]) == RPCS - {"CreateLocation"}
    assert all(isinstance(t["met"], bool) for t in report["targets"].values())
    assert report["machine_before"]["cpus"] and report["machine_after"]["cpus"]

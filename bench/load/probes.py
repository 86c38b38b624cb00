"""What the server did during a phase: pool gauges from /metrics, CPU and RSS from /proc.

A background task samples every worker's /metrics (pool connections in use and
in overflow, RPCs in flight, subscribers) and every server pid's RSS and keeps
the maxima; CPU seconds and RPC counts are differences between the start and
the end of the phase. Not faster than every 2 s: rendering /metrics costs the
worker tens of milliseconds of CPU (its latency histograms), and at 2 Hz it took
15% of a worker's samples in a profile. The PostgreSQL backends of the run's
database (found by their process title) and the whole machine's busy CPU are
measured too: on shared cores, they explain latency that the server's own CPU
does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import urllib.request
from typing import Any

SAMPLE_EVERY_S = 2.0
GAUGES = (
    "masterdata_db_pool_in_use",
    "masterdata_db_pool_overflow",
    "masterdata_rpc_in_flight",
    "masterdata_event_subscribers",
)
CALLS = "masterdata_rpc_calls_total"
#: Counted over the phase like CALLS: collection pauses (the worker's loop stood still).
GC_PAUSE_S = "masterdata_gc_pause_seconds_sum"
GC_PAUSES = "masterdata_gc_pause_seconds_count"
#: Counted over the phase: time unary calls spent in the handlers, and their number
#: (a whole subscription is one long "call", so SubscribeEvents is left out). Beside
#: the clients' latency it tells queueing before the handler from time in it.
HANDLER_S = "masterdata_rpc_duration_seconds_sum"
HANDLED = "masterdata_rpc_duration_seconds_count"
COUNTED = (CALLS, GC_PAUSE_S, GC_PAUSES, HANDLER_S, HANDLED)
#: Event-loop lag buckets, kept by their `le` label (the quantiles come from them).
LAG_BUCKET = "masterdata_event_loop_lag_seconds_bucket"
TICKS = os.sysconf("SC_CLK_TCK")


def scrape(port: int) -> dict[str, float]:
    """Every sample of one /metrics page summed by metric name (labels dropped)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            name = series.split("{", 1)[0]
            if name in (HANDLER_S, HANDLED) and "SubscribeEvents" in series:
                continue
            if name == LAG_BUCKET:
                name = series
            elif name in (GC_PAUSE_S, GC_PAUSES):  # by generation, as well as in all
                generation = series.split('generation="', 1)[1].split('"', 1)[0]
                totals[f"{name}:{generation}"] = float(value)
            totals[name] = totals.get(name, 0.0) + float(value)
    return totals


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid: int) -> float:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def backend_pids(database: str) -> list[int]:
    """PostgreSQL backends serving `database` on this machine (from their process title)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/cmdline", "rb") as file:
                title = file.read().decode(errors="replace")
                if title.startswith("postgres:") and f" {database} " in title:
                    found.append(int(entry))
    return found


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def lag_quantile_ms(counted: dict[str, float], fraction: float) -> float:
    """The upper bound of the loop-lag bucket holding `fraction` of the phase's samples."""
    buckets = sorted(
        (float(name.split('le="', 1)[1].split('"', 1)[0]), count)
        for name, count in counted.items()
        if name.startswith(LAG_BUCKET)
    )
    total = buckets[-1][1] if buckets else 0.0
    for bound, cumulative in buckets:
        if total and cumulative >= fraction * total:
            return round(1000 * bound, 1)
    return 0.0


class Probe:
    """Samples the server while a phase runs; `stop()` returns the phase's figures."""

    def __init__(self, metrics_ports: list[int], pids: list[int], database: str = "") -> None:
        self.ports = metrics_ports
        self.pids = pids
        self.database = database
        #: CPU seconds of each database backend when first seen in the phase, and last seen.
        self.db_first: dict[int, float] = {}
        self.db_last: dict[int, float] = {}
        self.maxima: dict[int, dict[str, float]] = {}
        self.rss: dict[int, float] = {}
        self.scrape_errors = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.maxima = {port: dict.fromkeys(GAUGES, 0.0) for port in self.ports}
        self.rss = dict.fromkeys(self.pids, 0.0)
        self._cpu = {pid: cpu_seconds(pid) for pid in self.pids}
        self._machine = machine_ticks()
        self.db_first, self.db_last = {}, {}
        self._sample_database(started=True)
        self._counted = {port: await self._counters(port) for port in self.ports}
        self._started = asyncio.get_running_loop().time()
        self._task = asyncio.create_task(self._sample())

    async def _scrape(self, port: int) -> dict[str, float]:
        try:
            return await asyncio.to_thread(scrape, port)
        except OSError:
            self.scrape_errors += 1
            return {}

    async def _counters(self, port: int) -> dict[str, float]:
        page = await self._scrape(port)
        by_label = {
            name: value
            for name, value in page.items()
            if name.startswith(LAG_BUCKET)
            or name.startswith(f"{GC_PAUSES}:")
            or name.startswith(f"{GC_PAUSE_S}:")
        }
        return {name: page.get(name, 0.0) for name in COUNTED} | by_label

    async def _sample(self) -> None:
        while True:
            pages = await asyncio.gather(*(self._scrape(port) for port in self.ports))
            for port, page in zip(self.ports, pages, strict=True):
                for name in GAUGES:
                    self.maxima[port][name] = max(self.maxima[port][name], page.get(name, 0.0))
            for pid in self.pids:
                self.rss[pid] = max(self.rss[pid], rss_mib(pid))
            self._sample_database(started=False)
            await asyncio.sleep(SAMPLE_EVERY_S)

    def _sample_database(self, *, started: bool) -> None:
        """Backends born during the phase count from zero."""
        if not self.database:
            return
        for pid in backend_pids(self.database):
            cpu = cpu_seconds(pid)
            self.db_first.setdefault(pid, cpu if started else 0.0)
            self.db_last[pid] = cpu

    async def stop(self) -> dict[str, Any]:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        seconds = asyncio.get_running_loop().time() - self._started
        self._sample_database(started=False)
        busy, total = machine_ticks()
        machine_busy = (busy - self._machine[0]) / max(1, total - self._machine[1])
        database_cpu = sum(self.db_last[pid] - self.db_first[pid] for pid in self.db_last)
        workers = []
        for index, port in enumerate(self.ports):
            now, then = await self._counters(port), self._counted[port]
            counted = {name: now[name] - then.get(name, 0.0) for name in now}
            maxima = self.maxima[port]
            workers.append(
                {
                    "worker": index,
                    "metrics_port": port,
                    "rpc_calls": int(counted[CALLS]),
                    "handler_mean_ms": round(1000 * counted[HANDLER_S] / counted[HANDLED], 1)
                    if counted[HANDLED]
                    else 0.0,
                    "gc_pauses": int(counted[GC_PAUSES]),
                    "gc_pause_s": round(counted[GC_PAUSE_S], 3),
                    "gc_by_generation": {
                        generation: [
                            int(counted.get(f"{GC_PAUSES}:{generation}", 0)),
                            round(counted.get(f"{GC_PAUSE_S}:{generation}", 0.0), 3),
                        ]
                        for generation in "012"
                    },
                    "loop_lag_p99_ms": lag_quantile_ms(counted, 0.99),
                    "pool_in_use_max": maxima["masterdata_db_pool_in_use"],
                    "pool_overflow_max": maxima["masterdata_db_pool_overflow"],
                    "rpc_in_flight_max": maxima["masterdata_rpc_in_flight"],
                    "subscribers_max": maxima["masterdata_event_subscribers"],
                }
            )
        processes = []
        for pid in self.pids:
            cpu = cpu_seconds(pid) - self._cpu[pid]
            processes.append(
                {
                    "pid": pid,
                    "cpu_s": round(cpu, 2),
                    "cpu_pct": round(100 * cpu / seconds, 1) if seconds else 0.0,
                    "rss_mib_max": round(self.rss[pid], 1),
                }
            )
        return {
            "workers": workers,
            "processes": processes,
            "database_backends_cpu_s": round(database_cpu, 2) if self.database else None,
            "machine_cpu_busy_pct": round(100 * machine_busy, 1),
            "scrape_errors": self.scrape_errors,
        }

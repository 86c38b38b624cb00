"""Turn the clients', subscribers' and probes' recordings into the JSON report and a table."""

from __future__ import annotations

import json
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from bench.load.mix import MIX

KIND_OF = {op.method: op.kind for op in MIX}
KINDS = ("read", "write", "next_number", "import")


def percentile(ordered: Sequence[float], fraction: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def latency_ms(values: Iterable[float]) -> dict[str, float]:
    ordered = sorted(values)
    stats = {f"p{int(f * 100)}_ms": percentile(ordered, f) * 1000 for f in (0.5, 0.95, 0.99)}
    stats["max_ms"] = (ordered[-1] if ordered else 0.0) * 1000
    return {"count": len(ordered)} | {k: round(v, 1) for k, v in stats.items()}


def phase_summary(
    rate: float, seconds: float, results: list[dict[str, Any]], server: dict[str, Any]
) -> dict[str, Any]:
    """One phase (a rate held for a while) over every client process."""
    by_method: dict[str, array[float]] = defaultdict(lambda: array("d"))
    lag: array[float] = array("d")
    outcomes: Counter[tuple[str, str, bool]] = Counter()
    details: dict[str, set[str]] = defaultdict(set)
    for result in results:
        for code, messages in result["details"].items():
            details[code].update(messages)
        for method, raw in result["latencies"].items():
            by_method[method].frombytes(raw)
        lag.frombytes(result["lag"])
        outcomes.update(result["outcomes"])
    by_kind: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for method, values in by_method.items():
        by_kind[KIND_OF[method]].extend(values)
    unexpected: Counter[str] = Counter()
    deliberate: Counter[str] = Counter()
    client_side: Counter[str] = Counter()
    errors_by_method: Counter[str] = Counter()
    for (method, code, intended), count in outcomes.items():
        if code == "OK":
            continue
        if code.startswith("CLIENT_"):
            client_side[code] += count
        else:
            (deliberate if intended else unexpected)[code] += count
        errors_by_method[f"{method} {code}"] += count
    completed = sum(len(values) for values in by_method.values())
    wall = max((r["wall_s"] for r in results), default=seconds)
    return {
        "offered_calls_per_s": rate,
        "seconds": seconds,
        "calls": completed,
        "sent_calls_per_s": round(len(lag) / seconds, 1),
        "completed_calls_per_s": round(completed / max(wall, seconds), 1),
        "dropped_by_client": sum(r["dropped"] for r in results),
        "unfinished": sum(r["unfinished"] for r in results),
        "classes": {kind: latency_ms(values) for kind, values in by_kind.items()},
        "methods": {method: latency_ms(by_method[method]) for method in sorted(by_method)},
        "errors": {
            "unexpected": dict(unexpected),
            "deliberate": dict(deliberate),
            # Calls the client could not make (all its rows busy): overload, not a failure.
            "client_side": dict(client_side),
            "by_method": dict(errors_by_method),
            "messages": {code: sorted(found)[:5] for code, found in details.items()},
        },
        "client_send_lag_ms": latency_ms(lag),
        "client_cpu_s": round(sum(r["cpu_s"] for r in results), 2),
        "server": server,
    }


def event_summary(results: list[dict[str, Any]], expected_events: int) -> dict[str, Any]:
    """Completeness and delivery delay over every subscriber process."""
    delays: Counter[int] = Counter()
    for result in results:
        delays.update(result["delay_histogram_ms"])
    ordered = sorted(delays.items())
    total = sum(delays.values())

    def at(fraction: float) -> int:
        seen = 0
        for value, count in ordered:
            seen += count
            if seen > fraction * total:
                return value
        return 0

    subscribers = sum(r["subscribers"] for r in results)
    complete = sum(r["complete"] for r in results)
    return {
        "subscribers": subscribers,
        "events_committed": expected_events,
        "complete_subscribers": complete,
        "incomplete_subscribers": subscribers - complete,
        "out_of_order_or_duplicate": sum(r["out_of_order_or_duplicate"] for r in results),
        "deliveries": sum(r["deliveries"] for r in results),
        "deliveries_expected": subscribers * expected_events,
        "reconnects": sum(r["reconnects"] for r in results),
        # Stream items received: events, batches of events, caught_up, heartbeats.
        "messages": sum(r["messages"] for r in results),
        "subscriber_processes_cpu_s": round(sum(r["cpu_s"] for r in results), 2),
        "errors": dict(sum((Counter(r["errors"]) for r in results), Counter())),
        "delivery_p50_ms": at(0.50),
        "delivery_p99_ms": at(0.99),
        "delivery_max_ms": ordered[-1][0] if ordered else 0,
        "examples": [e for r in results for e in r["examples"]][:3],
    }


def number_summary(numbers: list[int]) -> dict[str, Any]:
    """Document numbers the clients received: unique, and gap-free from 1?

    A gap is only a fault when every NextDocumentNumber call was answered: a call
    that timed out on the client may still have been committed on the server.
    """
    unique = set(numbers)
    return {
        "received": len(numbers),
        "duplicates": len(numbers) - len(unique),
        "gap_free_from_1": not unique or (min(unique) == 1 and max(unique) == len(unique)),
    }


def write_json(report: dict[str, Any], path: str) -> None:
    with open(path, "w") as file:
        json.dump(report, file, indent=2)
        file.write("\n")


def table(report: dict[str, Any]) -> str:
    """The stdout summary: one block per phase, then events and document numbers."""
    lines = [f"scenario {report['scenario']}: {report['config']}"]
    for phase in report["phases"]:
        errors = phase["errors"]
        lines += [
            "",
            f"offered {phase['offered_calls_per_s']}/s for {phase['seconds']}s: "
            f"sent {phase['sent_calls_per_s']}/s, completed {phase['completed_calls_per_s']}/s, "
            f"unexpected errors {errors['unexpected'] or 0}, deliberate {errors['deliberate']}",
            f"{'':28}{'count':>8}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}",
        ]
        rows = [*phase["classes"].items(), ("", None), *phase["methods"].items()]
        for name, stats in rows:
            if stats is None:
                continue
            lines.append(
                f"{name:28}{stats['count']:>8}{stats['p50_ms']:>10}{stats['p95_ms']:>10}"
                f"{stats['p99_ms']:>10}{stats['max_ms']:>10}"
            )
        lag = phase["client_send_lag_ms"]
        lines.append(
            f"client send lag p99 {lag['p99_ms']} ms, client CPU {phase['client_cpu_s']} s"
        )
        for proc in phase["server"]["processes"]:
            lines.append(
                f"server pid {proc['pid']}: CPU {proc['cpu_s']} s ({proc['cpu_pct']}%), "
                f"RSS max {proc['rss_mib_max']} MiB"
            )
        lines.append(
            f"database backends CPU {phase['server']['database_backends_cpu_s']} s, "
            f"machine busy {phase['server']['machine_cpu_busy_pct']}% of all cores"
        )
        for worker in phase["server"]["workers"]:
            lines.append(
                f"worker {worker['worker']}: {worker['rpc_calls']} RPCs "
                f"({worker['handler_mean_ms']} ms mean in the handler), pool in use max "
                f"{worker['pool_in_use_max']}, overflow max {worker['pool_overflow_max']}, "
                f"in flight max {worker['rpc_in_flight_max']}, "
                f"GC pauses {worker['gc_pauses']} ({worker['gc_pause_s']} s; [count, s] by "
                f"generation {worker['gc_by_generation']}), "
                f"loop lag p99 <= {worker['loop_lag_p99_ms']} ms"
            )
    for key in ("capacity", "bulk_import", "events", "document_numbers", "targets"):
        if key in report:
            lines += ["", f"{key}: {json.dumps(report[key])}"]
    return "\n".join(lines)

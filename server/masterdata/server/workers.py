"""`masterdata serve --workers N`: N server processes sharing one port.

Why processes: one Python process runs its calls on one core. With SO_REUSEPORT
every worker binds the same address and the kernel spreads new connections
across them. Each worker is a complete server with its own pools; they share
only the database, through which the event feed (LISTEN/NOTIFY and the events
table) and document numbering (row locks) already work across processes — the
same as replicas on several machines. SQLite is refused: it has one writer.

The supervisor reserves the port first (a bound, never listening SO_REUSEPORT
socket), so `--listen host:0` gives every worker the same ephemeral port, then
waits. SIGTERM/SIGINT are passed on to the workers, which drain gracefully; if a
worker dies on its own, the others are stopped too and the exit code says so —
restarting is the job of the process manager (systemd, Kubernetes).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

from masterdata.server.config import Settings
from masterdata.server.storage.engine import embedded

log = logging.getLogger("masterdata.server")
#: Seconds the supervisor adds to the workers' shutdown grace before killing them.
KILL_AFTER_GRACE_S = 5.0
#: Seconds between a worker's checks that its supervisor is still alive.
ORPHAN_CHECK_S = 0.5


class WorkersError(ValueError):
    """Settings that cannot run several workers."""


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


def reserve_port(listen: str) -> socket.socket:
    """A bound SO_REUSEPORT socket that holds the port for the workers (never listens)."""
    host, port = split_listen(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise WorkersError(f"cannot listen on {listen}: {error}") from error
    return sock


def worker_settings(settings: Settings, port: int, index: int) -> Settings:
    """Worker `index` listens on the reserved port; metrics on their own ports."""
    host, _ = split_listen(settings.listen)
    shown = f"[{host}]" if ":" in host else host
    return dataclasses.replace(
        settings,
        listen=f"{shown}:{port}",
        workers=1,
        reuse_port=True,
        metrics_port=settings.metrics_port + index if settings.metrics_port else 0,
    )


def run_workers(settings: Settings) -> int:
    """Start `settings.workers` servers and wait for them; the process exit code.

    Raises WorkersError, DatabaseUnusable or SchemaNotCurrent before starting any.
    """
    if embedded(settings):
        raise WorkersError(
            "--workers needs PostgreSQL: SQLite allows one writing process; "
            "run one worker, or set MASTERDATA_DATABASE_URL to a PostgreSQL database"
        )
    from masterdata.server.run import check_database  # run imports this module

    # Checked once here: a set-up mistake is then one line, not one traceback per worker.
    asyncio.run(check_database(settings))
    reserved = reserve_port(settings.listen)
    port = int(reserved.getsockname()[1])
    context = multiprocessing.get_context("spawn")
    supervisor = _Supervisor(
        [
            context.Process(
                target=_worker_main,
                args=(worker_settings(settings, port, index),),
                name=f"masterdata-worker-{index}",
            )
            for index in range(settings.workers)
        ],
        stop_after_s=settings.shutdown_grace_s + KILL_AFTER_GRACE_S,
    )
    previous = {
        sig: signal.signal(sig, supervisor.pass_on) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        for worker in supervisor.workers:
            worker.start()
        log.info("masterdata supervising %d workers on port %d", settings.workers, port)
        return supervisor.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        reserved.close()


class _Supervisor:
    """Waits for the workers; a worker that ends on its own stops the rest."""

    def __init__(self, workers: list[BaseProcess], *, stop_after_s: float) -> None:
        self.workers = workers
        self.stop_after_s = stop_after_s
        self.stopping = False

    def pass_on(self, signum: int, _frame: FrameType | None) -> None:
        """SIGTERM/SIGINT: every worker drains and stops."""
        self.stopping = True
        self._signal(self.workers, signum)

    def wait(self) -> int:
        running, failed = list(self.workers), False
        while running:
            wait([w.sentinel for w in running], timeout=0.5)
            for worker in [w for w in running if not w.is_alive()]:
                running.remove(worker)
                if not self.stopping:
                    log.error("%s exited with code %s", worker.name, worker.exitcode)
                    failed = True
            if failed and running:
                self._stop(running)
                running = []
        return 1 if failed or any(w.exitcode for w in self.workers) else 0

    def _stop(self, workers: list[BaseProcess]) -> None:
        self._signal(workers, signal.SIGTERM)
        for worker in workers:
            worker.join(self.stop_after_s)
            if worker.is_alive():
                worker.kill()
                worker.join()

    @staticmethod
    def _signal(workers: list[BaseProcess], signum: int) -> None:
        for worker in workers:
            if worker.pid is not None and worker.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signum)


def _worker_main(settings: Settings) -> None:
    """Entry point of one worker process (spawned: a fresh interpreter)."""
    from masterdata.server.observability.logs import configure_logging
    from masterdata.server.run import run_server

    configure_logging(settings.log_level, settings.log_format)
    threading.Thread(target=_stop_when_orphaned, args=(os.getppid(),), daemon=True).start()
    sys.exit(run_server(settings))


def _stop_when_orphaned(supervisor_pid: int) -> None:
    """SIGTERM this worker (a graceful stop) once its supervisor is gone, even by SIGKILL.

    Otherwise a killed supervisor would leave workers holding the port and the
    database connections.
    """
    while os.getppid() == supervisor_pid:
        time.sleep(ORPHAN_CHECK_S)
    os.kill(os.getpid(), signal.SIGTERM)

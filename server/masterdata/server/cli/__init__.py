"""`masterdata serve`, `migrate`, `seed` and `relay`: the commands of the database side.

They live in the server distribution, which declares `register` in the "masterdata.cli"
entry point group; the client's `masterdata` command adds them when it finds it, so
the client installs and runs without the server.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from masterdata.cli.connection import USAGE, UsageError
from masterdata.server.cli import relay

LOG_FORMATS = ("text", "json")
#: Settings that `serve` flags override (argparse dest = Settings field).
SERVE_SETTINGS = (
    "api_keys_file",
    "jwt_secret",
    "jwt_public_key_file",
    "jwt_issuer",
    "jwt_audience",
    "tls_cert_file",
    "tls_key_file",
    "tls_client_ca_file",
    "tls_client_identities_file",
    "insecure",
    "metrics_port",
    "metrics_address",
    "log_format",
    "workers",
)


def _server_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        help="postgresql://USER@HOST:PORT/NAME or sqlite:///PATH, or any SQLAlchemy URL of "
        "their async drivers (env MASTERDATA_DATABASE_URL; default sqlite:///./masterdata.db)",
    )


def _security_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of `serve` for auth, TLS and operations; each also reads MASTERDATA_<NAME>."""
    group = parser.add_argument_group("security and operations")
    flag = group.add_argument
    flag("--api-keys-file", metavar="FILE", help="JSON list of {name, sha256, scopes} API keys")
    flag(
        "--jwt-secret",
        metavar="SECRET",
        help="HS256 secret of JWT bearer tokens, at least 32 bytes "
        "(prefer env MASTERDATA_JWT_SECRET: flags show in the process list)",
    )
    flag(
        "--jwt-public-key",
        dest="jwt_public_key_file",
        metavar="FILE",
        help="PEM RSA public key for RS256 JWTs",
    )
    flag("--jwt-issuer", metavar="ISS", help="required `iss` claim of JWTs")
    flag("--jwt-audience", metavar="AUD", help="required `aud` claim of JWTs")
    flag(
        "--tls-cert",
        dest="tls_cert_file",
        metavar="FILE",
        help="PEM server certificate chain (enables TLS)",
    )
    flag("--tls-key", dest="tls_key_file", metavar="FILE", help="PEM private key of --tls-cert")
    flag(
        "--tls-client-ca",
        dest="tls_client_ca_file",
        metavar="FILE",
        help="PEM CA bundle; clients must present a certificate it signed (mTLS)",
    )
    flag(
        "--tls-client-identities",
        dest="tls_client_identities_file",
        metavar="FILE",
        help="JSON list of {name, scopes}: scopes of each client certificate identity "
        "(URI SAN, else DNS SAN, else CN); required with --tls-client-ca without API keys/JWT",
    )
    flag(
        "--insecure",
        action="store_true",
        default=None,
        help="allow a non-loopback --listen address without authentication",
    )
    flag(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve Prometheus /metrics on this port (0 = off)",
    )
    flag(
        "--metrics-address",
        metavar="HOST",
        help="address of the /metrics endpoint (default 127.0.0.1)",
    )
    flag("--log-format", choices=LOG_FORMATS, help="text (default) or json, one object a line")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add serve, migrate and seed to the `masterdata` command."""
    serve = commands.add_parser(
        "serve", help="run the gRPC server", description="Run the gRPC server."
    )
    _server_flags(serve)
    serve.add_argument(
        "--listen", help="host:port to listen on (env MASTERDATA_LISTEN; default 127.0.0.1:50051)"
    )
    serve.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="server processes sharing the port (SO_REUSEPORT; PostgreSQL only; "
        "env MASTERDATA_WORKERS; default 1)",
    )
    _security_flags(serve)
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser(
        "migrate",
        help="upgrade the database schema",
        description="Upgrade the database to the latest schema.",
    )
    _server_flags(migrate)
    migrate.add_argument("--revision", default="head", help="target revision (default head)")
    migrate.set_defaults(run=_on_database(_migrate))

    seed = commands.add_parser(
        "seed",
        help="load standard reference data (idempotent)",
        description=(
            "Load standard reference data: the six trade-term families (FOB, CIF, EXW, "
            "LC at sight, 30 days credit, ...), cotton parameter templates and sample "
            "commodities. Works directly on the database through the service layer "
            "(validation and events apply), not over gRPC. Records whose name or code "
            "is already taken are left as they are, so running it again changes nothing. "
            "SQLite is migrated first; PostgreSQL must be migrated with `masterdata migrate`."
        ),
    )
    _server_flags(seed)
    seed.set_defaults(run=_on_database(_seed))

    relay.register(commands, _server_flags)


def _on_database(
    command: Callable[[argparse.Namespace], Coroutine[Any, Any, int]],
) -> Callable[[argparse.Namespace], int]:
    """An argparse handler running `command`; set-up mistakes are one line and exit 2."""

    def run(args: argparse.Namespace) -> int:
        from masterdata.server.run import setup_checked

        return setup_checked(lambda: asyncio.run(command(args)))

    return run


async def _migrate(args: argparse.Namespace) -> int:
    from alembic.util import CommandError

    from masterdata.server.config import Settings
    from masterdata.server.storage import migrate
    from masterdata.server.storage.engine import Database

    settings = Settings.load(database_url=args.database_url)
    db = await Database.open(settings)
    try:
        await migrate.upgrade(db.writer, args.revision)
        print(f"database at revision {await migrate.current_revision(db.writer)}")
    except CommandError as error:  # an unknown --revision
        raise UsageError(f"--revision {args.revision}: {error}") from error
    finally:
        await db.dispose()
    return 0


async def _seed(args: argparse.Namespace) -> int:
    from masterdata.server.app import build_runtime, prepare_schema
    from masterdata.server.config import Settings
    from masterdata.server.seed import SeedError, seed_reference_data
    from masterdata.server.storage.engine import Database

    settings = Settings.load(database_url=args.database_url)
    db = await Database.open(settings)
    try:
        await prepare_schema(settings, db)
        report = await seed_reference_data(build_runtime(settings, db))
    except SeedError as error:
        print(f"masterdata: {error}", file=sys.stderr)
        return 1
    finally:
        await db.dispose()
    print(report.table())
    return 0


def _serve(args: argparse.Namespace) -> int:
    from masterdata.server.config import Settings
    from masterdata.server.observability.logs import configure_logging
    from masterdata.server.run import run_server, setup_checked
    from masterdata.server.workers import run_workers

    flags = {name: getattr(args, name, None) for name in SERVE_SETTINGS}
    settings = Settings.load(database_url=args.database_url, listen=args.listen, **flags)
    if settings.log_format not in LOG_FORMATS:
        print(f"masterdata: log format must be one of {', '.join(LOG_FORMATS)}", file=sys.stderr)
        return USAGE
    if settings.workers < 1:
        print("masterdata: --workers must be at least 1", file=sys.stderr)
        return USAGE
    configure_logging(settings.log_level, settings.log_format)
    if settings.workers == 1:
        return run_server(settings)
    return setup_checked(lambda: run_workers(settings))

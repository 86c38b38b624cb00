"""Run one server process to the end and say how it ended, as an exit code."""

from __future__ import annotations

import asyncio
import sys

from masterdata.server.app import ListenError, serve
from masterdata.server.config import Settings
from masterdata.server.db.migrate import SchemaNotCurrent
from masterdata.server.security.errors import SecurityConfigError


def run_server(settings: Settings) -> int:
    """0 after a clean shutdown; 1 for an unmigrated database; 2 for unusable settings."""
    try:
        asyncio.run(serve(settings))
    except SchemaNotCurrent as error:
        print(f"masterdata: {error}", file=sys.stderr)
        return 1
    except (SecurityConfigError, ListenError) as error:
        print(f"masterdata: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0

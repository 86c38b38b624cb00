"""The storage layer's boundary, enforced: drivers, SQL text and backend questions live in
`masterdata.server.storage` only, and the composition root alone builds the feed.

Scans the server's modules (their syntax trees), so a new module that reaches past
the boundary fails here, naming the line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import masterdata.server

SERVER = Path(masterdata.server.__path__[0])
STORAGE = SERVER / "storage"
#: Modules that talk to a database driver or choose a dialect.
DRIVER_MODULES = ("asyncpg", "aiosqlite", "sqlite3", "psycopg", "sqlalchemy.dialects")
#: Names whose use means SQL text or a raw driver connection.
RAW_SQL_NAMES = {"text", "exec_driver_sql", "driver_connection", "get_raw_connection"}
#: Attributes that ask which backend the code runs on.
BACKEND_QUESTIONS = {"is_postgres", "dialect", "is_sqlite"}
#: Calls that build engines, pools, connections, the feed hub and the listener.
CONSTRUCTORS = {
    "create_async_engine",
    "create_pool",
    "FeedHub",
    "PostgresListener",
    "SQLiteBackend",
}


def modules(outside_storage: bool = True) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(SERVER.rglob("*.py")):
        if outside_storage and STORAGE in path.parents:
            continue
        yield path, ast.parse(path.read_text(), filename=str(path))


def offences(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(DRIVER_MODULES):
                    yield node.lineno, f"imports {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module.startswith(DRIVER_MODULES):
                yield node.lineno, f"imports from {module}"
            if module == "sqlalchemy" and any(a.name == "text" for a in node.names):
                yield node.lineno, "imports sqlalchemy.text (SQL text)"
        elif isinstance(node, ast.Attribute):
            if node.attr in RAW_SQL_NAMES - {"text"}:
                yield node.lineno, f"uses .{node.attr} (a raw driver call)"
            if node.attr in BACKEND_QUESTIONS:
                yield node.lineno, f"asks .{node.attr} (which backend it runs on)"


def test_drivers_sql_text_and_backend_questions_stay_in_the_storage_package() -> None:
    found = [
        f"{path.relative_to(SERVER)}:{line}: {what}"
        for path, tree in modules()
        for line, what in offences(tree)
    ]
    assert not found, "outside masterdata.server.storage:\n" + "\n".join(found)


def test_the_scan_sees_what_it_forbids() -> None:
    """The scan itself can fail: the storage package does all of these."""
    kinds = {
        what.split()[0]
        for path, tree in modules(outside_storage=False)
        if STORAGE in path.parents
        for _, what in offences(tree)
    }
    assert {"imports", "uses", "asks"} <= kinds


def _called(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in CONSTRUCTORS:
                yield node.lineno, str(name)


def test_only_the_composition_root_and_storage_build_engines_pools_and_the_feed() -> None:
    allowed = {SERVER / "app.py"}
    found = [
        f"{path.relative_to(SERVER)}:{line}: {name}(...)"
        for path, tree in modules()
        if path not in allowed
        for line, name in _called(tree)
    ]
    assert not found, "constructed outside app.py and storage/:\n" + "\n".join(found)

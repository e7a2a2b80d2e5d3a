"""Running the installed ``dd-org-connections`` entry point as a subprocess, as an operator would."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from support.seed import ALL_KEYS, HUB, Org

_FOUND = shutil.which("dd-org-connections", path=os.path.dirname(sys.executable))
if _FOUND is None:  # pragma: no cover - a broken install, not a test failure to debug here
    raise RuntimeError("dd-org-connections is not installed: run .venv/bin/pip install -e .")
EXE: str = _FOUND

#: Key-like values the tests pass on purpose (wrong keys); they must never be printed either.
FAKE_API_KEY = "0badc0de" * 4
FAKE_APP_KEY = "feedface" * 5
SECRETS = [*ALL_KEYS, FAKE_API_KEY, FAKE_APP_KEY]


@dataclass(frozen=True)
class Result:
    """What one run of the command printed and how it exited."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"dd-org-connections {' '.join(self.args)} -> {self.code}\n--- stdout\n{self.out}--- stderr\n{self.err}"


def base_env() -> dict[str, str]:
    """The test process's environment without any Datadog setting (nothing leaks in from outside)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "DATADOG_"))}
    env["COLUMNS"] = "200"
    return env


def run(
    *args: str,
    url: str | None = None,
    org: Org | None = HUB,
    app_key: str | None = None,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float = 30,
    cwd: str | None = None,
) -> Result:
    """Run ``dd-org-connections ARGS`` with ``org``'s keys in the environment and ``DD_HOST=url``
    (in ``cwd``: e.g. a Pulumi project's directory, for ``reconcile --stack``).

    Every run checks that no key (of the seed, or the fake ones) appears in stdout or stderr.
    """
    full_env = base_env()
    if url is not None:
        full_env["DD_HOST"] = url
    if org is not None:
        full_env["DD_API_KEY"] = org.api_key
        full_env["DD_APP_KEY"] = app_key or org.app_key
    full_env.update(env or {})
    proc = subprocess.run(
        [EXE, *args], env=full_env, input=input if input is not None else "",
        capture_output=True, text=True, timeout=timeout, cwd=cwd,
    )  # fmt: skip
    result = Result(tuple(args), proc.returncode, proc.stdout, proc.stderr)
    for secret in SECRETS:
        assert secret not in proc.stdout and secret not in proc.stderr, f"a key was printed\n{result}"
    assert "Traceback" not in proc.stderr, str(result)
    return result


def closed_port_url() -> str:
    """A loopback URL on which nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def table_rows(out: str) -> list[dict[str, str]]:
    """Parse the aligned table printed by ``list``/``orgs``; checks every cell starts under its header."""
    header, *lines = out.rstrip("\n").split("\n")
    columns = [(m.start(), m.group()) for m in re.finditer(r"\S+(?: \S+)*", header)]
    rows = []
    for line in lines:
        cells = {}
        for n, (start, name) in enumerate(columns):
            stop = columns[n + 1][0] if n + 1 < len(columns) else len(line)
            assert start == 0 or line[start - 2 : start] == "  " or not line[start:].strip(), (
                f"column {name} is not aligned in {line!r}"
            )
            cells[name] = line[start:stop].strip()
        assert "  ".join(cells.values()).split() == line.split(), f"cells overflow their column in {line!r}"
        rows.append(cells)
    return rows


def conn_id(conn: dict[str, Any]) -> str:
    """The id of a connection as the control endpoints render it."""
    return str(conn["id"])


def one_error_line_of(result: Result) -> str:
    """The single `error: ...` line a failed run printed on stderr (asserts there is exactly one)."""
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), str(result)
    return lines[0]

"""`reconcile` and `graph` at account scale (issue 21): ten orgs read at once, progress, refused keys.

An account of ten orgs (a generated seed, an emulator of its own), each org's keys given with
`--org ALIAS`, 45 connections (one per pair of orgs). Concurrency is proven from the emulator's
request log, not from timings: with an answer delay, the requests of several orgs overlap, never
more than `--parallel` of them, and never with `--parallel 1`.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
from collections.abc import Iterator
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import EXE, FAKE_APP_KEY, base_env, one_error_line_of, run

from datadog_org_connections.cli.reading import Progress
from datadog_org_connections.cli.sources import alias_env
from datadog_org_connections.emulator import Emulator
from support.emulator_control import EmulatorControl
from support.seed import Org, write_seed

NAMES = ["parent", *(f"org-{i:02d}" for i in range(1, 10))]
LATENCY_MS = 200
#: Each request's interval is shrunk by this much at both ends before counting overlaps: requests
#: one after another (the next sent once the previous answer is in) never count as overlapping.
MARGIN = 0.02


class Account:
    """The emulator, its ten orgs, and the `--org` options with their variables."""

    def __init__(self, control: EmulatorControl, orgs: list[Org]) -> None:
        self.control, self.orgs = control, orgs
        self.env: dict[str, str] = {}
        self.args: list[str] = []
        for org in orgs:
            api_var, app_var = alias_env(org.name)
            self.env |= {api_var: org.api_key, app_var: org.app_key}
            self.args += ["--org", org.name]

    def cli(self, *args: str, env: dict[str, str] | None = None, **kw: Any) -> Any:
        return run(*args, *self.args, url=self.control.url, org=None, env={**self.env, **(env or {})}, **kw)


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Account]:
    seed = tmp_path_factory.mktemp("many") / "seed.json"
    orgs = write_seed(seed, NAMES, account="many")
    with Emulator.start(seed) as emulator:
        control = EmulatorControl(emulator.url)
        for source, sink in combinations(orgs, 2):
            control.create(source.id, sink.id, ["logs"])
        yield Account(control, orgs)


@pytest.fixture
def many(account: Account) -> Iterator[Account]:
    """The account, request log empty, no delay."""
    account.control.latency(0)
    account.control.clear_requests()
    yield account
    account.control.latency(0)


def most_in_flight(entries: list[dict[str, Any]]) -> int:
    """The most API requests the emulator was answering at one moment (from its log)."""
    events: list[tuple[float, int]] = []
    for e in entries:
        start, end = e["time"] + MARGIN, e["time"] + e["duration_ms"] / 1000 - MARGIN
        if end > start:
            events += [(start, 1), (end, -1)]
    most = current = 0
    for _, step in sorted(events):  # an end sorts before a start at the same instant
        current += step
        most = max(most, current)
    return most


def test_orgs_are_read_at_once_within_the_bound_and_reported_in_order(many: Account) -> None:
    many.control.latency(LATENCY_MS)
    docs, peaks = {}, {}
    for parallel in ("1", "3", "8"):
        many.control.clear_requests()
        result = many.cli("graph", "--json", "--parallel", parallel)
        assert result.code == 0, result
        docs[parallel] = json.loads(result.out)
        entries = many.control.requests()
        assert len(entries) == 2 * len(NAMES)  # each org: its connections and GET /api/v2/org
        peaks[parallel] = most_in_flight(entries)
    assert peaks["1"] == 1  # one after another: the log can tell
    assert 2 <= peaks["3"] <= 3 and 4 <= peaks["8"] <= 8, peaks
    assert docs["1"] == docs["3"] == docs["8"]  # whatever order the orgs answered in
    assert len(docs["8"]["connections"]) == 45 and len(docs["8"]["orgs"]) == 10


def test_a_refused_org_is_named_and_left_out_the_others_drawn(many: Account) -> None:
    refused = many.orgs[5]
    _, app_var = alias_env(refused.name)
    result = many.cli("graph", "--json", env={app_var: FAKE_APP_KEY})
    assert result.code == 7, result
    [warning, summary] = result.err.splitlines()
    assert (
        warning.startswith(f"warning: --org {refused.name} (") and "list org connections: HTTP 403" in warning
    )
    assert summary.startswith("drew 10 org(s), 45 connection(s)")  # each connection has another end
    assert len(json.loads(result.out)["connections"]) == 45

    everyone = {var: FAKE_APP_KEY for var in many.env if var.startswith("DD_APP_KEY_")}
    alone = many.cli("graph", env=everyone)
    assert alone.code == 5, alone
    line = one_error_line_of(alone)
    assert "--org parent (DD_API_KEY_PARENT / DD_APP_KEY_PARENT): list org connections: HTTP 403" in line
    assert "the 9 other key set(s) given could not be used either" in line


def test_progress_goes_to_stderr_only_when_asked_or_on_a_terminal(many: Account) -> None:
    quiet = many.cli("graph", "--json")
    assert "reading orgs" not in quiet.err  # stderr is a pipe here

    shown = many.cli("graph", "--json", "--progress", "--parallel", "1")
    json.loads(shown.out)  # stdout is the JSON alone
    lines = [line for line in shown.err.splitlines() if line.startswith("reading orgs: ")]
    assert lines[0] == "reading orgs: 0/10 (waiting for parent, org-01, org-02, +7 more)"
    assert lines[1] == "reading orgs: 1/10 (waiting for org-01, org-02, org-03, +6 more)"
    assert lines[-2] == "reading orgs: 9/10 (waiting for org-09)"
    assert lines[-1].startswith("reading orgs: 10/10 in ") and len(lines) == 11

    # stderr a terminal: the line is rewritten in place, and cleared before the summary.
    leader, follower = pty.openpty()
    env = {**base_env(), **many.env, "DD_HOST": many.control.url}
    with os.fdopen(leader, "rb", buffering=0) as terminal:
        proc = subprocess.run(
            [EXE, "graph", "--json", *many.args], env=env, stdout=subprocess.PIPE, stderr=follower,
            stdin=subprocess.DEVNULL, timeout=60, check=False,
        )  # fmt: skip
        os.close(follower)
        seen = _read_all(terminal)
    assert proc.returncode == 0 and json.loads(proc.stdout)["orgs"]
    assert "\r\x1b[Kreading orgs: 0/10" in seen and "\r\x1b[Kreading orgs: 10/10 in " in seen
    assert "\r\x1b[Kdrew 10 org(s)" in seen  # the progress line cleared first


def _read_all(terminal: Any) -> str:
    chunks = []
    while True:
        try:
            chunk = terminal.read(65536)
        except OSError:  # EIO: the other end is closed and everything was read
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def test_progress_line_names_what_is_still_read(tmp_path: Path) -> None:
    out = tmp_path / "progress.txt"
    with open(out, "w") as stream:
        progress = Progress(stream, ["a", "b"], live=False)
        progress.begin()
        progress.finished(1)
        progress.finished(0)
        progress.end()
    first, second, last = out.read_text().splitlines()
    assert (first, second) == ("reading orgs: 0/2 (waiting for a, b)", "reading orgs: 1/2 (waiting for a)")
    assert last.startswith("reading orgs: 2/2 in ")

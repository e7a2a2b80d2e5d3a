"""Eight stacks of one project, `pulumi up` at once from eight CI runners, one shared state backend,
the API failing 20 % of the time (issue 21, item 5).

Each runner is a `PulumiCLI` of its own (its own PULUMI_HOME, hence its own journal) with its own
clone of the project (the program and every stack's `Pulumi.<stack>.yaml`), all pointed at one
`postgres://` backend (tests/conftest.py, `postgres_backend`). Stack `s<i>` holds the keys of org
`spoke-<i>` and declares a connection from it to each of the sink orgs: the stacks never share a pair,
as stacks of one account must not.

The faults are the emulator's (docs/emulator.md, *Faults*), on every API request of every runner, each
with probability 0.2, kinds picked at random among all five: `server_error` (500 JSON, 502 HTML, 503
empty), `timeout` (the answer comes after 2 s and is applied; the client gives up after 1 s:
`orgConnections:requestTimeoutSeconds`), `reset` (the connection closes, nothing applied),
`lost_response` (applied, the answer lost) and `rate_limit` (429, with a one-second window so the waits
it asks for stay short, as in test_convergence.py).

Each stack must converge in at most two `pulumi up` runs (the second runs only for the stacks whose
first failed, again all at once). Then, faults off: every stack's `pulumi stack export` against the
API (each declared connection exactly once, no id held by two resources, nothing in the API that no
stack declares, the types as declared), no DELETE was ever sent, and `pulumi preview
--expect-no-changes` passes on every stack.

It stays in the default run: 18-35 s on 2 shared cores (8 engines, their language hosts and providers
at once), most of it the CLI's own start-up; `--durations` shows it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest

from datadog_org_connections.emulator import FAULT_KINDS, Emulator
from support.emulator_control import EmulatorControl
from support.interrupts import CONNECTION_TYPE, PROGRAM
from support.pulumi_cli import PulumiCLI, find_pulumi
from support.seed import Org, write_seed

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(find_pulumi() is None, reason="no pulumi CLI: run scripts/install-pulumi"),
]

STACKS = 8
SINKS = ("hub", "archive", "security", "audit", "billing")
FAULT_PROBABILITY = 0.2
T = TypeVar("T")


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Emulator, list[Org], list[Org]]]:
    """An emulator of one account: the sink orgs, then `spoke-0` .. `spoke-7` (the stacks' orgs)."""
    seed = tmp_path_factory.mktemp("seed") / "seed.json"
    orgs = write_seed(seed, [*SINKS, *(f"spoke-{i}" for i in range(STACKS))], account="many-runners")
    with Emulator.start(seed=seed) as emulator:
        yield emulator, orgs[: len(SINKS)], orgs[len(SINKS) :]


@dataclass
class Runner:
    """One CI runner: its clone of the project, its Pulumi home, the stack it deploys."""

    stack: str
    dir: Path
    cli: PulumiCLI
    runs: list[tuple[float, float, int, str]] = field(default_factory=list)  # start, end, exit, output

    def pulumi(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.cli.run(*args, "--stack", self.stack, cwd=self.dir, check=False)

    def up(self) -> int:
        start = time.monotonic()
        proc = self.pulumi("up", "--yes", "--skip-preview")
        self.runs.append((start, time.monotonic(), proc.returncode, proc.stdout + proc.stderr))
        return proc.returncode

    def state(self) -> dict[str, tuple[str, str, tuple[str, ...]]]:
        """Resource URN -> (connection id, sink org id, types), as the shared state holds them."""
        proc = self.pulumi("stack", "export")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        resources = json.loads(proc.stdout)["deployment"].get("resources") or []
        return {
            r["urn"]: (r["id"], r["outputs"]["sink_org_id"], tuple(sorted(r["outputs"]["connection_types"])))
            for r in resources
            if r["type"] == CONNECTION_TYPE
        }


def _all_at_once(runners: Sequence[Runner], action: Callable[[Runner], T]) -> list[T]:
    with ThreadPoolExecutor(max_workers=len(runners)) as pool:
        return list(pool.map(action, runners))


def _runners(
    tmp_path: Path, backend_url: str, api_url: str, spokes: list[Org], sinks: list[Org]
) -> list[Runner]:
    """One project with a stack per spoke, made by a first runner; each runner gets a clone of it."""
    project = tmp_path / "repo"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: many-runners\nruntime: python\n")
    (project / "__main__.py").write_text(textwrap.dedent(PROGRAM))
    setup = PulumiCLI(tmp_path / "setup", backend_url=backend_url)
    for i, spoke in enumerate(spokes):
        setup.stack_init(f"s{i}", project)
        setup.run(
            "config", "set-all", "--stack", f"s{i}",
            "--plaintext", f"datadog:apiUrl={api_url}",
            "--secret", f"datadog:apiKey={spoke.api_key}",
            "--secret", f"datadog:appKey={spoke.app_key}",
            "--plaintext", "orgConnections:requestTimeoutSeconds=1",
            "--plaintext", f"sinks={json.dumps([s.id for s in sinks])}",
            cwd=project,
        )  # fmt: skip
    runners = []
    for i in range(len(spokes)):
        clone = tmp_path / f"runner-{i}" / "repo"
        shutil.copytree(project, clone)
        runners.append(Runner(f"s{i}", clone, PulumiCLI(tmp_path / f"runner-{i}", backend_url=backend_url)))
    return runners


def test_eight_stacks_up_at_once_from_eight_runners_under_faults_converge_in_two_runs(
    tmp_path: Path, postgres_backend: str, account: tuple[Emulator, list[Org], list[Org]]
) -> None:
    emulator, sinks, spokes = account
    control = EmulatorControl(emulator.url)
    control.reset()
    control.rate_limit(limit=100_000, period=1)  # a 429 asks for a wait of at most a second
    runners = _runners(tmp_path, postgres_backend, emulator.url, spokes, sinks)

    control.faults(probability=FAULT_PROBABILITY, kinds=list(FAULT_KINDS), seed=2100, timeout_seconds=2)
    try:
        first = _all_at_once(runners, Runner.up)
        again = [r for r, code in zip(runners, first, strict=True) if code != 0]
        if again:
            _all_at_once(again, Runner.up)
    finally:
        control.faults()
    log = control.requests()

    for runner in runners:
        assert runner.runs[-1][2] == 0, (
            f"stack {runner.stack} did not converge in {len(runner.runs)} `pulumi up` runs:\n"
            + runner.runs[-1][3][-4000:]
        )
    starts, ends = [r.runs[0][0] for r in runners], [r.runs[0][1] for r in runners]
    assert max(starts) < min(ends), "the first `pulumi up`s did not run at the same time"
    injected = Counter(r["fault"].split(":")[0] for r in log if r.get("fault"))
    assert sum(injected.values()) >= 5, f"too few faults to test anything: {injected}"
    assert [r for r in log if r["method"] == "DELETE"] == [], "a connection was deleted"

    # State == API, for every stack.
    states = _all_at_once(runners, Runner.state)
    held = [conn_id for state in states for conn_id, _, _ in state.values()]
    assert len(held) == len(set(held)), "a connection id is held by two resources"
    api = {
        c["id"]: (
            c["relationships"]["source_org"]["data"]["id"],
            c["relationships"]["sink_org"]["data"]["id"],
            tuple(sorted(c["attributes"]["connection_types"])),
        )
        for c in control.connections()
    }
    declared = sorted((spoke.id, sink.id) for spoke in spokes for sink in sinks)
    assert sorted((src, sink) for src, sink, _ in api.values()) == declared, "API != what the stacks declare"
    for spoke, state in zip(spokes, states, strict=True):
        mine = {conn_id: (spoke.id, sink, types) for conn_id, sink, types in state.values()}
        assert mine == {conn_id: api.get(conn_id) for conn_id in mine}, "state != API"
        assert sorted(sink for _, sink, _ in state.values()) == sorted(s.id for s in sinks)
    assert set(held) == set(api), "the API holds a connection that no stack holds"
    assert {types for _, _, types in api.values()} == {("logs",)}

    previews = _all_at_once(runners, lambda r: r.pulumi("preview", "--expect-no-changes"))
    for runner, proc in zip(runners, previews, strict=True):
        assert proc.returncode == 0, f"{runner.stack}: {proc.stdout}{proc.stderr}"
    runs = Counter(len(r.runs) for r in runners)
    print(f"{STACKS} stacks: runs per stack {dict(runs)}; {len(log)} API requests, faults {dict(injected)}")

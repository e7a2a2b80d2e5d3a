"""Convergence under faults, with the real `pulumi` CLI against an emulator that misbehaves.

The account here is generated: one source org and many sink orgs, with recognisable key values so
that any leak into the state, the CLI's output (at -v=9 too) or a logged URL is caught.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from datadog_org_connections.emulator import Emulator
from support.emulator_control import EmulatorControl
from support.pulumi_cli import PulumiCLI, find_pulumi

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        find_pulumi() is None, reason="no pulumi CLI: run scripts/install-pulumi (scripts/test does)"
    ),
]

SINKS = 110
API_KEY = "RECOGNISABLE-API-KEY-source-0001"
APP_KEY = "RECOGNISABLE-APP-KEY-source-0001"
ALL_FAULTS = ["rate_limit", "server_error", "timeout", "reset", "lost_response"]

PROGRAM = """
import pulumi
from datadog_org_connections import OrgConnection

config = pulumi.Config()
for index, sink in enumerate(config.require_object("sinks")):
    OrgConnection(f"conn-{index:03d}", sink_org_id=sink, connection_types=config.require_object("types"))
"""


def _seed() -> dict[str, Any]:
    def org(name: str, api: str, app: str) -> dict[str, Any]:
        user = {"name": f"admin@{name}", "app_keys": [app], "permissions": ["org_management"]}
        return {"name": name, "api_keys": [api], "users": [user]}

    orgs = [org("source", API_KEY, APP_KEY)]
    orgs += [
        org(f"sink-{i:03d}", f"RECOGNISABLE-API-KEY-sink-{i:03d}", f"RECOGNISABLE-APP-KEY-sink-{i:03d}")
        for i in range(SINKS)
    ]
    return {"accounts": [{"name": "big", "orgs": orgs}]}


@pytest.fixture(scope="module")
def big_emulator() -> Iterator[Emulator]:
    with Emulator.start(seed=_seed()) as emu:
        yield emu


class Stack:
    """A throwaway project whose one stack declares connections from `source` to N sinks."""

    def __init__(self, tmp: Path, url: str, sink_ids: list[str]) -> None:
        self.dir = tmp / "proj"
        self.dir.mkdir()
        (self.dir / "Pulumi.yaml").write_text("name: many\nruntime: python\n")
        (self.dir / "__main__.py").write_text(PROGRAM)
        self.cli = PulumiCLI(tmp / "pulumi")
        self.sink_ids = sink_ids
        self.output = ""
        self.cli.stack_init("dev", self.dir)
        for key, value, secret in [
            ("datadog:apiUrl", url, False),
            ("datadog:apiKey", API_KEY, True),
            ("datadog:appKey", APP_KEY, True),
            ("orgConnections:requestTimeoutSeconds", "1", False),
        ]:
            self.cli.config_set("dev", self.dir, key, value, secret=secret)
        self.declare(len(sink_ids), ["logs"])

    def declare(self, count: int, types: list[str]) -> None:
        self.cli.run(
            "config", "set", "--stack", "dev", "sinks", json.dumps(self.sink_ids[:count]), cwd=self.dir
        )
        self.cli.run("config", "set", "--stack", "dev", "types", json.dumps(types), cwd=self.dir)

    def pulumi(self, *args: str, check: bool = True) -> tuple[int, str]:
        proc = self.cli.run(*args, "--stack", "dev", cwd=self.dir, check=check)
        self.output += proc.stdout + proc.stderr
        return proc.returncode, proc.stdout + proc.stderr

    def converge(self, *args: str, tries: int = 2) -> int:
        """Run `pulumi ARGS` until it succeeds; return how many runs it took (fail past `tries`)."""
        for attempt in range(1, tries + 1):
            code, out = self.pulumi(*args, check=False)
            if code == 0:
                return attempt
        raise AssertionError(f"pulumi {' '.join(args)} did not converge in {tries} runs:\n{out[-4000:]}")

    def state_connections(self) -> dict[str, list[str]]:
        """Connection id -> types, as the stack's state records them."""
        resources = self.cli.export("dev", self.dir)["deployment"].get("resources") or []
        return {
            r["id"]: sorted(r["outputs"]["connection_types"])
            for r in resources
            if r["type"].endswith("OrgConnection")
        }


@pytest.fixture
def setup(tmp_path: Path, big_emulator: Emulator) -> tuple[Stack, EmulatorControl, str]:
    control = EmulatorControl(big_emulator.url)
    control.reset()
    # A one-second rate-limit window, so injected 429s ask for short waits (X-RateLimit-Reset).
    control.rate_limit(limit=100_000, period=1)
    state = control._call("GET", "state")
    orgs = {o["name"]: o["id"] for a in state["accounts"] for o in a["orgs"]}
    sinks = [orgs[f"sink-{i:03d}"] for i in range(SINKS)]
    return Stack(tmp_path, big_emulator.url, sinks), control, orgs["source"]


def _api_connections(control: EmulatorControl) -> dict[str, list[str]]:
    return {c["id"]: sorted(c["attributes"]["connection_types"]) for c in control.connections()}


def _assert_consistent(
    stack: Stack, control: EmulatorControl, source: str, count: int, types: list[str]
) -> None:
    pairs = control.pairs()
    assert len(pairs) == len(set((s, t) for s, t, _ in pairs)), "a pair has two connections"
    assert pairs == sorted((source, sink, tuple(types)) for sink in stack.sink_ids[:count]), "API != declared"
    assert stack.state_connections() == _api_connections(control), "state != API"


def test_fifty_connections_converge_under_thirty_percent_faults(
    setup: tuple[Stack, EmulatorControl, str],
) -> None:
    stack, control, source = setup
    stack.declare(50, ["logs"])
    control.faults(probability=0.3, kinds=ALL_FAULTS, seed=1234, timeout_seconds=2)
    runs = stack.converge("up", "--yes", "--skip-preview")
    control.faults()
    _assert_consistent(stack, control, source, 50, ["logs"])
    faults = [r["fault"] for r in control.requests() if r.get("fault")]
    print(f"up converged in {runs} run(s); {len(faults)} faults injected: {sorted(set(faults))}")
    assert {f.split(":")[0] for f in faults} >= {"rate_limit", "server_error", "reset", "lost_response"}

    # Types change for all 50 under faults too, in place.
    stack.declare(50, ["logs", "metrics"])
    control.faults(probability=0.3, kinds=ALL_FAULTS, seed=99, timeout_seconds=2)
    stack.converge("up", "--yes", "--skip-preview")
    control.faults()
    _assert_consistent(stack, control, source, 50, ["logs", "metrics"])
    code, _ = stack.pulumi("preview", "--expect-no-changes")
    assert code == 0

    control.faults(probability=0.3, kinds=ALL_FAULTS, seed=4321, timeout_seconds=2)
    stack.converge("destroy", "--yes")
    control.faults()
    assert control.connections() == []
    assert stack.state_connections() == {}


def test_lost_response_on_create_and_delete_is_invisible(setup: tuple[Stack, EmulatorControl, str]) -> None:
    stack, control, source = setup
    stack.declare(1, ["logs"])
    control.faults(kinds=["lost_response"], probability=1, count=1, methods=["POST"])
    code, out = stack.pulumi("up", "--yes", "--skip-preview")
    assert code == 0, out
    assert [r["fault"] for r in control.requests() if r.get("fault")] == ["lost_response"]
    _assert_consistent(stack, control, source, 1, ["logs"])

    control.faults(kinds=["lost_response"], probability=1, count=1, methods=["DELETE"])
    code, out = stack.pulumi("destroy", "--yes")
    assert code == 0, out
    assert [r["fault"] for r in control.requests() if r.get("fault")] == ["lost_response", "lost_response"]
    assert control.connections() == []


def test_parallel_32_over_100_connections_with_rate_limits(setup: tuple[Stack, EmulatorControl, str]) -> None:
    stack, control, source = setup
    stack.declare(100, ["metrics"])
    control.rate_limit(limit=40, period=1)
    control.faults(probability=0.2, kinds=["rate_limit"], seed=5)
    try:
        stack.converge("up", "--yes", "--skip-preview", "--parallel", "32", tries=1)
        _assert_consistent(stack, control, source, 100, ["metrics"])
        limited = [r for r in control.requests() if r["status"] == 429]
        print(f"{len(limited)} answers were 429")
        assert limited, "no 429 was injected: the test did not test anything"
        stack.converge("destroy", "--yes", "--parallel", "32", tries=1)
    finally:
        control.faults()
        control.rate_limit(limit=100_000, period=1)
    assert control.connections() == []


def test_no_key_anywhere_at_any_verbosity(setup: tuple[Stack, EmulatorControl, str]) -> None:
    stack, control, _ = setup
    stack.declare(3, ["logs"])
    control.faults(probability=0.5, kinds=["server_error", "rate_limit"], seed=3)
    stack.converge("up", "--yes", "--skip-preview", "-v=9", "--logtostderr", "--logflow", tries=3)
    stack.pulumi("refresh", "--yes", "-v=9", "--logtostderr", "--logflow")
    control.faults()
    # A failing run too: wrong app key, so errors are printed.
    stack.cli.config_set("dev", stack.dir, "datadog:appKey", "RECOGNISABLE-APP-KEY-wrong-0001", secret=True)
    stack.declare(4, ["logs"])
    code, _ = stack.pulumi("up", "--yes", "--skip-preview", "-v=9", "--logtostderr", check=False)
    assert code != 0
    exported = json.dumps(stack.cli.export("dev", stack.dir))
    logged = json.dumps(control.requests())
    assert "RECOGNISABLE" not in exported
    assert "RECOGNISABLE" not in stack.output
    assert "RECOGNISABLE" not in logged
    assert "Forbidden" in stack.output  # the failure itself was reported

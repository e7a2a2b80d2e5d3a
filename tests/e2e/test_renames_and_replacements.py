"""Never lose or block a connection the program still declares (issue 16), with the real CLI.

One stack (spoke-eu's keys, plus org aliases) declares the connections listed in its config, so each
test edits the config the way a user edits the program: rename a resource, move it to another alias,
swap sinks. The emulator's request log shows what reached the API.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from support.emulator_control import EmulatorControl
from support.pulumi_cli import PulumiCLI, find_pulumi
from support.seed import GLOBEX, HUB, HUB_VIEWER_APP_KEY, SPOKE_EU, SPOKE_US

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(find_pulumi() is None, reason="no pulumi CLI: run scripts/install-pulumi"),
]

PROGRAM = """
import json
import pulumi
from datadog_org_connections import OrgConnection

for c in json.loads(pulumi.Config().require("connections")):
    aliases = [pulumi.Alias(name=a) for a in c.get("aliases", [])]
    conn = OrgConnection(
        c["name"],
        sink_org_id=c["sink"],
        connection_types=c.get("types", ["logs"]),
        source_org=c.get("source"),
        adopt_existing=c.get("adopt"),
        opts=pulumi.ResourceOptions(aliases=aliases),
    )
    pulumi.export(c["name"], conn.id)
"""


class Stack:
    """A one-stack project whose connections come from its config."""

    def __init__(self, tmp: Path, url: str) -> None:
        self.dir = tmp / "proj"
        self.dir.mkdir()
        (self.dir / "Pulumi.yaml").write_text("name: renames\nruntime: python\n")
        (self.dir / "__main__.py").write_text(textwrap.dedent(PROGRAM))
        self.cli = PulumiCLI(tmp / "pulumi")
        self.cli.stack_init("dev", self.dir)
        self.set("datadog:apiUrl", url)
        self.set("datadog:apiKey", SPOKE_EU.api_key, secret=True)
        self.set("datadog:appKey", SPOKE_EU.app_key, secret=True)
        us = {"apiKey": SPOKE_US.api_key, "appKey": SPOKE_US.app_key}
        self.set("orgConnections:orgs", json.dumps({"us": us, "us-prod": us}), secret=True)

    def set(self, key: str, value: str, secret: bool = False) -> None:
        self.cli.config_set("dev", self.dir, key, value, secret=secret)

    def declare(self, *connections: dict[str, Any]) -> None:
        self.set("connections", json.dumps(list(connections)))

    def run(self, *args: str, check: bool = True) -> str:
        proc = self.cli.run(*args, "--stack", "dev", cwd=self.dir, check=check)
        return proc.stdout + proc.stderr

    def up(self, check: bool = True) -> str:
        return self.run("up", "--yes", "--skip-preview", check=check)

    def connections_in_state(self) -> list[dict[str, Any]]:
        resources = self.cli.export("dev", self.dir)["deployment"].get("resources", [])
        return [r for r in resources if r["type"].endswith("datadog:OrgConnection")]

    def state_ids(self) -> set[str]:
        """Ids of the connections the state holds (not those already deleted, pending their replacement)."""
        return {r["id"] for r in self.connections_in_state() if not r.get("pendingReplacement")}


@pytest.fixture
def stack(tmp_path: Path, emulator: EmulatorControl) -> Stack:
    return Stack(tmp_path, emulator.url)


def _calls(emulator: EmulatorControl) -> list[str]:
    return [
        f"{r['method']} {r['status']}"
        for r in emulator.requests()
        if r["method"] != "GET" or r["status"] != 200
    ]


def _api_ids(emulator: EmulatorControl) -> set[str]:
    return {c["id"] for c in emulator.connections()}


def _agree(stack: Stack, emulator: EmulatorControl) -> None:
    assert stack.state_ids() == _api_ids(emulator)
    stack.run("preview", "--expect-no-changes")


def test_rename_conflict_advice_then_adopt_existing_keeps_the_connection(
    stack: Stack, emulator: EmulatorControl
) -> None:
    stack.declare({"name": "to-hub", "sink": HUB.id})
    stack.up()
    [conn_id] = _api_ids(emulator)

    # Renamed, no alias, right after the create (the journal of creates still holds the connection,
    # for the old name only): the new name gets the conflict and its advice.
    stack.declare({"name": "hub-conn", "sink": HUB.id})
    failed = stack.up(check=False)
    assert "already exists" in failed and 'pulumi.Alias(name="<old name>")' in failed
    # An interrupted run first (issue 21), then the alias, adoption, and reconcile's view of who holds what.
    assert (
        failed.index("was interrupted")
        < failed.index("pulumi.Alias")
        < failed.index("adopt_existing=True")
        < failed.rindex("reconcile")
    )

    stack.declare({"name": "hub-conn", "sink": HUB.id, "adopt": True})
    emulator.clear_requests()
    out = stack.up()
    assert "+ 1 created" in out and "- 1 deleted" in out
    assert _calls(emulator) == ["POST 409"]  # adopted; the old name's delete was a hand-over: no DELETE
    assert _api_ids(emulator) == {conn_id}
    assert stack.cli.outputs("dev", stack.dir)["hub-conn"] == conn_id
    _agree(stack, emulator)


def test_rename_with_an_alias_makes_no_request(stack: Stack, emulator: EmulatorControl) -> None:
    stack.declare({"name": "to-hub", "sink": HUB.id})
    stack.up()
    stack.declare({"name": "hub-conn", "sink": HUB.id, "aliases": ["to-hub"]})
    emulator.clear_requests()
    stack.up()
    assert emulator.mutating_requests() == []
    _agree(stack, emulator)


def test_moving_to_another_alias_of_the_same_org_keeps_the_connection(
    stack: Stack, emulator: EmulatorControl
) -> None:
    stack.declare({"name": "us-to-hub", "sink": HUB.id, "source": "us"})
    stack.up()
    [conn_id] = _api_ids(emulator)
    stack.declare({"name": "us-to-hub", "sink": HUB.id, "source": "us-prod"})
    preview = stack.run("preview")
    assert "replace" not in preview and "~ 1 to update" in preview
    emulator.clear_requests()
    stack.up()
    assert emulator.mutating_requests() == []
    assert _api_ids(emulator) == {conn_id}
    _agree(stack, emulator)


def test_two_connections_swapping_sinks(stack: Stack, emulator: EmulatorControl) -> None:
    stack.declare(
        {"name": "a", "sink": HUB.id, "types": ["logs"]},
        {"name": "b", "sink": SPOKE_US.id, "types": ["metrics"]},
    )
    stack.up()
    stack.declare(
        {"name": "a", "sink": SPOKE_US.id, "types": ["logs"]},
        {"name": "b", "sink": HUB.id, "types": ["metrics"]},
    )
    emulator.clear_requests()
    stack.up()
    # The engine orders neither replacement's delete before the other's create: a create that comes
    # first meets the pair still held (409) and waits for that delete (the provider tests force it).
    made = [f"{m['method']} {m['status']}" for m in emulator.mutating_requests()]
    assert sorted(m for m in made if m != "POST 409") == ["DELETE 200", "DELETE 200", "POST 200", "POST 200"]
    assert emulator.pairs() == sorted(
        [(SPOKE_EU.id, SPOKE_US.id, ("logs",)), (SPOKE_EU.id, HUB.id, ("metrics",))]
    )
    _agree(stack, emulator)


def test_a_sink_change_deletes_first_then_creates(stack: Stack, emulator: EmulatorControl) -> None:
    stack.declare({"name": "a", "sink": HUB.id})
    stack.up()
    stack.declare({"name": "a", "sink": SPOKE_US.id})
    emulator.clear_requests()
    stack.up()
    assert [m["method"] for m in emulator.mutating_requests()] == ["DELETE", "POST"]
    assert emulator.pairs() == [(SPOKE_EU.id, SPOKE_US.id, ("logs",))]
    _agree(stack, emulator)


def test_a_sink_change_whose_create_fails_is_recreated_by_the_next_up(
    stack: Stack, emulator: EmulatorControl
) -> None:
    """The documented trade-off of deleting first: no connection until the next successful `up`."""
    stack.declare({"name": "a", "sink": HUB.id})
    stack.up()
    stack.declare({"name": "a", "sink": GLOBEX.id})  # another account: spoke-eu's keys cannot tell at preview
    failed = stack.up(check=False)
    assert "HTTP 404" in failed and "same Datadog account" in failed
    assert emulator.pairs() == []
    # The engine keeps the old resource marked as deleted, pending its replacement.
    [old] = stack.connections_in_state()
    assert old["pendingReplacement"] is True and stack.state_ids() == set()
    stack.declare({"name": "a", "sink": HUB.id})
    stack.up()
    assert emulator.pairs() == [(SPOKE_EU.id, HUB.id, ("logs",))]
    _agree(stack, emulator)


def test_refresh_and_destroy_name_the_keys_recorded_by_the_last_up(
    stack: Stack, emulator: EmulatorControl
) -> None:
    stack.declare({"name": "a", "sink": HUB.id})
    stack.up()
    # A wrong application key reaches the state: an `up` with nothing to change records it, even though
    # its preflight refuses it at once (current_user and the list answer 403: issue 20).
    stack.set("datadog:appKey", HUB_VIEWER_APP_KEY, secret=True)
    refused = stack.up(check=False)
    assert "authenticate as nobody" in refused and "datadog:apiKey/appKey" in refused
    stack.set("datadog:appKey", SPOKE_EU.app_key, secret=True)  # the user fixes the config...
    for command in (("refresh", "--yes"), ("destroy", "--yes")):
        failed = stack.run(*command, check=False)  # ...but these run with the recorded keys
        assert "HTTP 403" in failed and "keys recorded in the state by the last `pulumi up`" in failed
        assert "--run-program" in failed and HUB_VIEWER_APP_KEY not in failed
    stack.run("refresh", "--yes", "--run-program")  # reads the current config: works
    stack.run("destroy", "--yes", "--run-program")
    assert emulator.connections() == []

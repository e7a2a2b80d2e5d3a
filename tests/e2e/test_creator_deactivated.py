"""Datadog deletes a connection when its creator's account is deactivated: refresh sees it, up repairs it.

The multi-org sample program (programs/multi-org) under the real `pulumi` CLI, against the emulator:
spoke-eu's connections are created with the application key of a person (engineer@spoke-eu), who is
then deactivated. With another valid key (the org admin's, standing in for the service account the
docs/configuration.md recommends) `pulumi refresh` drops exactly the connections that went with the person, and
`pulumi up` recreates them. With the person's own key still in the stack, refresh is refused and
changes nothing until another key is set.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.emulator_control import EmulatorControl
from support.pulumi_cli import PulumiCLI, find_pulumi
from support.seed import ALL_KEYS, HUB, SPOKE_AP, SPOKE_EU, SPOKE_EU_ENGINEER, SPOKE_US

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        find_pulumi() is None, reason="no pulumi CLI: run scripts/install-pulumi (scripts/test does)"
    ),
]

ROOT = Path(__file__).resolve().parents[2]
STACK = "people-leave"
CONNECTION_TYPE = "pulumi-python:dynamic/datadog:OrgConnection"
PAIRS = {(SPOKE_AP.id, HUB.id), (SPOKE_EU.id, HUB.id), (SPOKE_EU.id, SPOKE_US.id)}


class Mesh:
    """A copy of programs/multi-org with a fresh stack: hub, spoke-ap and spoke-eu meshed to the hub."""

    def __init__(self, tmp: Path, url: str) -> None:
        self.dir = tmp / "multi-org"
        shutil.copytree(
            ROOT / "programs" / "multi-org",
            self.dir,
            ignore=shutil.ignore_patterns("__pycache__", "Pulumi.*.yaml"),  # not the committed stack
        )
        self.cli = PulumiCLI(tmp / "pulumi")
        self.output = ""  # everything the CLI printed, to look for keys
        self.cli.stack_init(STACK, self.dir)
        settings = [
            ("plaintext", "datadog:apiUrl", url),
            ("plaintext", "datadog-org-mesh:hub", "hub"),
            ("plaintext", "datadog-org-mesh:topologyOrgs[0]", "hub"),
            ("plaintext", "datadog-org-mesh:topologyOrgs[1]", "spoke-ap"),
            ("plaintext", "datadog-org-mesh:topologyOrgs[2]", "spoke-eu"),
            ("plaintext", "datadog-org-mesh:connectionTypes[0]", "logs"),
        ]
        for org in (HUB, SPOKE_EU, SPOKE_US, SPOKE_AP):
            settings.append(("plaintext", f"datadog-org-mesh:orgIds.{org.name}", org.id))
        for org, app_key in (
            (HUB, HUB.app_key),
            (SPOKE_AP, SPOKE_AP.app_key),
            (SPOKE_EU, SPOKE_EU_ENGINEER.app_key),
        ):
            settings.append(("secret", f"orgConnections:orgs.{org.name}.apiKey", org.api_key))
            settings.append(("secret", f"orgConnections:orgs.{org.name}.appKey", app_key))
        flags = [arg for kind, key, value in settings for arg in (f"--{kind}", f"{key}={value}")]
        self.cli.run("config", "set-all", "--stack", STACK, "--path", *flags, cwd=self.dir)

    def pulumi(self, *args: str, check: bool = True) -> tuple[int, str]:
        proc = self.cli.run(*args, "--stack", STACK, cwd=self.dir, check=check)
        self.output += proc.stdout + proc.stderr
        return proc.returncode, proc.stdout + proc.stderr

    def state(self) -> dict[str, dict[str, Any]]:
        """The OrgConnection resources in the stack's state: name -> outputs, plus the resource id."""
        resources = self.cli.export(STACK, self.dir)["deployment"]["resources"]
        return {
            r["urn"].rsplit("::", 1)[1]: {**r.get("outputs", {}), "id": r["id"]}
            for r in resources
            if r["type"] == CONNECTION_TYPE
        }


def api_view(emulator: EmulatorControl) -> dict[str, tuple[str, str, str]]:
    """Every connection in the emulator: id -> (source org, sink org, creator's name)."""
    return {
        c["id"]: (
            c["relationships"]["source_org"]["data"]["id"],
            c["relationships"]["sink_org"]["data"]["id"],
            c["relationships"]["created_by"]["data"]["name"],
        )
        for c in emulator.connections()
    }


@pytest.fixture
def mesh(tmp_path: Path, emulator: EmulatorControl) -> Iterator[Mesh]:
    yield Mesh(tmp_path, emulator.url)
    emulator.reset()  # every user active again for whoever comes next


def deploy_as_the_engineer(mesh: Mesh, emulator: EmulatorControl) -> dict[str, tuple[str, str, str]]:
    """``pulumi up``: three connections, the two of spoke-eu created by the engineer."""
    mesh.pulumi("up", "--yes", "--skip-preview")
    made = api_view(emulator)
    assert {(src, snk) for src, snk, _ in made.values()} == PAIRS
    assert {who for src, _, who in made.values() if src == SPOKE_EU.id} == {SPOKE_EU_ENGINEER.name}
    assert {o["id"] for o in mesh.state().values()} == set(made)
    return made


def use_the_admin_key(mesh: Mesh) -> None:
    """Another valid key for spoke-eu (the admin's, in place of a service account's)."""
    mesh.cli.run("config", "set", "--stack", STACK, "--path", "--secret",
                 "orgConnections:orgs.spoke-eu.appKey", SPOKE_EU.app_key, cwd=mesh.dir)  # fmt: skip


def person_leaves(emulator: EmulatorControl, made: dict[str, tuple[str, str, str]]) -> str:
    """Deactivate the engineer: exactly their two connections go. Returns the one that stays."""
    persons = {cid for cid, (src, _, _) in made.items() if src == SPOKE_EU.id}
    assert len(persons) == 2
    assert set(emulator.deactivate(SPOKE_EU_ENGINEER.name)) == persons
    (kept,) = set(made) - persons
    assert set(api_view(emulator)) == {kept}
    return kept


def refresh_then_up_repairs(mesh: Mesh, emulator: EmulatorControl, kept: str, *refresh_flags: str) -> None:
    """Refresh drops exactly the two lost connections; up recreates them; state and API agree."""
    _, refreshed = mesh.pulumi("refresh", *refresh_flags, "--yes")
    assert "2 deleted" in refreshed, refreshed
    assert [o["id"] for o in mesh.state().values()] == [kept]

    _, up = mesh.pulumi("up", "--yes", "--skip-preview")
    assert "+ 2 created" in up, up
    after = api_view(emulator)
    assert {(src, snk) for src, snk, _ in after.values()} == PAIRS
    assert kept in after  # untouched throughout
    assert {who for src, _, who in after.values() if src == SPOKE_EU.id} == {SPOKE_EU.user_name}
    state = mesh.state()
    assert {o["id"] for o in state.values()} == set(after)
    for outputs in state.values():
        src, snk, _ = after[outputs["id"]]
        assert (outputs["source_org_id"], outputs["sink_org_id"]) == (src, snk)
    mesh.pulumi("preview", "--expect-no-changes")
    for key in ALL_KEYS:
        assert key not in mesh.output, "a key reached the CLI output"


def test_refresh_sees_the_connections_gone_with_their_creator_and_up_recreates_them(
    mesh: Mesh, emulator: EmulatorControl
) -> None:
    """The stack moved to another key before the person left: a plain refresh sees the loss."""
    made = deploy_as_the_engineer(mesh, emulator)
    use_the_admin_key(mesh)
    _, again = mesh.pulumi("up", "--yes", "--skip-preview")
    assert "created" not in again and "deleted" not in again and set(api_view(emulator)) == set(made)
    kept = person_leaves(emulator, made)
    refresh_then_up_repairs(mesh, emulator, kept)


def test_with_the_creators_own_key_refresh_fails_cleanly_until_another_key_is_set(
    mesh: Mesh, emulator: EmulatorControl
) -> None:
    """The stack still holds the person's key: refresh is refused (403) and changes nothing; once
    another key is in config, ``refresh --run-program`` (which reads the new config; a plain
    refresh uses the provider configuration of the last deployment) and up repair it."""
    made = deploy_as_the_engineer(mesh, emulator)
    kept = person_leaves(emulator, made)
    code, out = mesh.pulumi("refresh", "--yes", check=False)
    assert code != 0 and ("403" in out or "Forbidden" in out), out
    assert {o["id"] for o in mesh.state().values()} == set(made)  # nothing half-done
    use_the_admin_key(mesh)
    refresh_then_up_repairs(mesh, emulator, kept, "--run-program")

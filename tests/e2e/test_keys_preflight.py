"""Who the keys are, told in the real CLI's output (issue 20), against the emulator.

A stack whose keys are people's (the hub's and spoke-eu's admins) warns once per org in the
diagnostics of `pulumi preview` and of `pulumi up`; with service accounts' keys it does not. A
read-only key's preview stays green and says `up` would be refused; `up` is refused before any
change. Keys that authenticate as nobody fail the preview at once, naming the config keys. Along
the way, the recorded shapes: names survive an update in place (the PATCH answer has none), and a
refresh of lists carrying `included` changes nothing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from support.emulator_control import EmulatorControl
from support.pulumi_cli import find_pulumi
from support.pulumi_program import ProgramProject
from support.seed import (
    ALL_KEYS,
    HUB,
    HUB_READER_APP_KEY,
    SPOKE_EU,
    SPOKE_EU_READER_APP_KEY,
    SPOKE_US,
    service_account_of,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        find_pulumi() is None, reason="no pulumi CLI: run scripts/install-pulumi (scripts/test does)"
    ),
]

PROGRAM = f"""
import pulumi
from datadog_org_connections import OrgConnection

types = pulumi.Config().require_object("types")
OrgConnection("hub-to-us", sink_org_id="{SPOKE_US.id}", connection_types=types)
OrgConnection("hub-to-eu", sink_org_id="{SPOKE_EU.id}", connection_types=types)
OrgConnection("eu-to-us", sink_org_id="{SPOKE_US.id}", connection_types=types, source_org="eu")
"""

PERSON = "are those of a person, {user}, not of a service account"
CONNECTION = "pulumi-python:dynamic/datadog:OrgConnection"


def diagnostics(output: str) -> list[str]:
    """The `warning:` and `error:` lines of every Diagnostics section of a command's output (the
    progress lines above repeat them as they happen)."""
    lines: list[str] = []
    for section in re.findall(r"^Diagnostics:\n(.*?)(?=^\S|\Z)", output, flags=re.M | re.S):
        lines += [
            line.strip() for line in section.splitlines() if line.strip().startswith(("warning:", "error:"))
        ]
    return lines


def persons_warned(output: str) -> list[str]:
    """The users a command's diagnostics warn about, one entry per warning."""
    found = []
    for line in diagnostics(output):
        match = re.search(r"are those of a person, (\S+)", line)
        if match:
            found.append(match.group(1).rstrip(","))
    return sorted(found)


def set_keys(project: ProgramProject, hub_app_key: str, eu_app_key: str) -> None:
    project.config("datadog:appKey", hub_app_key, secret=True)
    project.config("orgConnections:orgs.eu.appKey", eu_app_key, secret=True, path=True)


def connections(project: ProgramProject) -> dict[str, dict[str, Any]]:
    resources = project.export()["deployment"]["resources"]
    return {r["urn"].rsplit("::", 1)[1]: r["outputs"] for r in resources if r["type"] == CONNECTION}


@pytest.fixture
def project(tmp_path: Path, emulator: EmulatorControl) -> ProgramProject:
    proj = ProgramProject(tmp_path)
    proj.write_program(PROGRAM)
    proj.init(HUB, emulator.url)
    proj.config("types", json.dumps(["logs"]))
    proj.config("orgConnections:orgs.eu.apiKey", SPOKE_EU.api_key, secret=True, path=True)
    proj.config("orgConnections:orgs.eu.appKey", SPOKE_EU.app_key, secret=True, path=True)
    return proj


def test_a_persons_keys_are_warned_once_per_org_and_service_accounts_keys_are_not(
    project: ProgramProject, emulator: EmulatorControl
) -> None:
    people = sorted([HUB.user_name, SPOKE_EU.user_name])
    preview = project.pulumi("preview").stdout
    assert persons_warned(preview) == people, preview
    warning = next(line for line in diagnostics(preview) if HUB.user_name in line)
    assert "Datadog removes every connection a user made when that user's account is deactivated" in warning
    assert "service account" in warning and "datadog:appKey" in warning
    up = project.up()
    assert persons_warned(up) == people, up
    made = connections(project)
    assert {name: outs["created_by_service_account"] for name, outs in made.items()} == dict.fromkeys(
        made, False
    )

    # Service accounts' keys from now on, and an update in place (one PATCH, whose answer has no names).
    set_keys(project, service_account_of(HUB).app_key, service_account_of(SPOKE_EU).app_key)
    project.config("types", json.dumps(["logs", "metrics"]))
    emulator.clear_requests()
    up = project.up()
    assert persons_warned(up) == [] and "3 updated" in up, up
    assert [r["method"] for r in emulator.mutating_requests()] == ["PATCH"] * 3
    for name, outs in connections(project).items():
        before = made[name]
        for key in (
            "source_org_name",
            "sink_org_name",
            "created_by",
            "created_by_id",
            "created_by_service_account",
        ):
            assert outs[key] == before[key], (name, key)
        assert outs["source_org_name"] and outs["sink_org_name"] and outs["created_by"]

    # A refresh (lists carrying `included`) changes nothing; nor does a preview after it.
    project.pulumi("refresh", "--yes", "--expect-no-changes")
    preview = project.pulumi("preview", "--expect-no-changes").stdout
    assert persons_warned(preview) == [], preview
    assert not [key for key in ALL_KEYS if key in project.output], "a key reached the CLI output"


def test_read_only_keys_preview_green_up_refused_before_any_change_and_bad_keys_fail_at_once(
    project: ProgramProject, emulator: EmulatorControl
) -> None:
    set_keys(project, HUB_READER_APP_KEY, SPOKE_EU_READER_APP_KEY)  # org_connections_read only
    preview = project.pulumi("preview")  # a pull request's preview in CI: it passes
    refusals = sorted(line for line in diagnostics(preview.stdout) if "`pulumi up` would be refused" in line)
    assert len(refusals) == 2, preview.stdout  # one per org
    assert "ci-reader@hub" in refusals[0] + refusals[1] and "ci-reader@spoke-eu" in refusals[0] + refusals[1]
    assert all("org_connections_write" in line and "A preview only reads" in line for line in refusals)
    up = project.pulumi("up", "--yes", "--skip-preview", check=False)
    assert up.returncode != 0
    assert "holds neither org_connections_write nor the older org_management" in up.stdout + up.stderr
    assert "Nothing was sent" in up.stdout + up.stderr
    assert emulator.mutating_requests() == [] and emulator.pairs() == []

    project.config("datadog:appKey", "f" * 40, secret=True)  # a key of nobody
    emulator.clear_requests()
    preview = project.pulumi("preview", check=False)
    output = preview.stdout + preview.stderr
    assert preview.returncode != 0
    assert "the keys of the stack's org (datadog:apiKey/appKey) authenticate as nobody" in output
    assert emulator.mutating_requests() == []
    assert "f" * 40 not in output and not [key for key in ALL_KEYS if key in project.output]

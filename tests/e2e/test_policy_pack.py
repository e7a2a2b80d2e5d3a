"""The org-connections policy pack under the real `pulumi` CLI, against the emulator.

`pulumi preview --policy-pack policies/org-connections` starts the pack through our language
host's RunPlugin (see docs/policies.md). A small program declares the OrgConnections listed in its
stack config, so each test states its connections and its policy pack config as data. The stack's
own keys are spoke-eu's; spoke-us is available as the alias `spoke-us`.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest

from support.emulator_control import EmulatorControl
from support.pulumi_cli import PulumiCLI, find_pulumi
from support.seed import ALL_KEYS, HUB, SPOKE_EU, SPOKE_US, service_account_of

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        find_pulumi() is None, reason="no pulumi CLI: run scripts/install-pulumi (scripts/test does)"
    ),
]

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "policies" / "org-connections"
EXAMPLE_CONFIG = ROOT / "policies" / "examples" / "acme.json"
ORGS = {"hub": HUB.id, "spoke-eu": SPOKE_EU.id, "spoke-us": SPOKE_US.id}
NAMES = {"orgs": ORGS, "stackOrgs": {"dev": "spoke-eu"}}  # how the config names this stack's orgs

PROGRAM = """
import pulumi
from datadog_org_connections import OrgConnection

made = {}
for spec in pulumi.Config().require_object("connections"):
    sink = spec["sink"]
    if sink.startswith("@"):  # "@name": the source org id of another connection (unknown at preview)
        sink = made[sink[1:]].source_org_id
    made[spec["name"]] = OrgConnection(
        spec["name"],
        sink_org_id=sink,
        connection_types=spec["types"],
        source_org=spec.get("source"),
        validate_sink=spec.get("validate_sink"),
    )
"""


def connection(
    name: str, sink: str, types: list[str], source: str | None = None, **extra: Any
) -> dict[str, Any]:
    return {"name": name, "sink": sink, "types": types, "source": source, **extra}


class Stack:
    """A throwaway project with PROGRAM, stack `dev` keyed as spoke-eu, on a fresh backend."""

    def __init__(self, tmp: Path, url: str) -> None:
        self.dir = tmp / "proj"
        self.dir.mkdir()
        (self.dir / "Pulumi.yaml").write_text("name: conns\nruntime: python\n")
        (self.dir / "__main__.py").write_text(textwrap.dedent(PROGRAM))
        self.tmp = tmp
        self.cli = PulumiCLI(tmp / "pulumi")
        self.cli.stack_init("dev", self.dir)
        for key, value, secret in [
            ("datadog:apiUrl", url, False),
            ("datadog:apiKey", SPOKE_EU.api_key, True),
            ("datadog:appKey", SPOKE_EU.app_key, True),
            ("orgConnections:orgs.spoke-us.apiKey", SPOKE_US.api_key, True),
            ("orgConnections:orgs.spoke-us.appKey", SPOKE_US.app_key, True),
        ]:
            self.cli.run(
                "config", "set", "--stack", "dev", "--path", *(["--secret"] if secret else []), key, value,
                cwd=self.dir,
            )  # fmt: skip

    def run(
        self, command: str, connections: list[dict[str, Any]], config: dict[str, Any] | None = None
    ) -> tuple[int, str]:
        """`pulumi preview` (or `up`) with the policy pack; (exit code, everything printed)."""
        self.cli.config_set("dev", self.dir, "connections", json.dumps(connections))
        args = [command, "--stack", "dev", "--policy-pack", str(PACK)]
        if command == "up":
            args += ["--yes", "--skip-preview"]
        if config is not None:
            path = self.tmp / "policy-config.json"
            path.write_text(json.dumps(config))
            args += ["--policy-pack-config", str(path)]
        proc = self.cli.run(*args, cwd=self.dir, check=False)
        output = proc.stdout + proc.stderr
        assert not [k for k in ALL_KEYS if k in output], "a key reached the CLI output"
        return proc.returncode, output


@pytest.fixture
def stack(tmp_path: Path, emulator: EmulatorControl) -> Stack:
    return Stack(tmp_path, emulator.url)


def violations(output: str) -> list[str]:
    """The policy lines `- [level]  policy  (type: resource)` of the CLI's summary."""
    return sorted(line.strip() for line in output.splitlines() if line.strip().startswith("- ["))


OUR_TYPE = "pulumi-python:dynamic/datadog:OrgConnection"


def test_violating_program_fails_preview_naming_the_rule_and_the_resource(
    stack: Stack, emulator: EmulatorControl
) -> None:
    code, output = stack.run("preview", [connection("eu-to-hub", HUB.id, ["logs", "audit"])])
    assert code != 0, output
    assert violations(output) == [f"- [mandatory]  audit-sinks-allow-listed  ({OUR_TYPE}: eu-to-hub)"]
    assert (
        "[audit-sinks-allow-listed] OrgConnection 'eu-to-hub' shares audit data with org " + HUB.id in output
    )
    assert 'Fix: remove "audit" from connection_types, or add the sink org\'s UUID' in output
    assert emulator.mutating_requests() == []


def test_compliant_program_passes_preview_and_up(stack: Stack, emulator: EmulatorControl) -> None:
    conns = [
        connection("eu-to-hub", HUB.id, ["logs", "audit"]),
        connection("us-to-hub", HUB.id, ["metrics"], source="spoke-us"),
        connection("eu-to-us", SPOKE_US.id, ["logs"]),
    ]
    config = {
        "audit-sinks-allow-listed": {"allowedSinks": ["hub"], **NAMES},
        "declared-topology": {"hub": "hub", "allowedPairs": [["spoke-eu", "spoke-us"]], **NAMES},
        "no-production-to-non-production": {
            "orgTags": {"hub": ["production"], "spoke-us": ["production"]},
            **NAMES,
        },
    }
    code, output = stack.run("preview", conns, config)
    assert code == 0, output
    assert "✅ org-connections@v0.1.0" in output
    assert violations(output) == []

    code, output = stack.run("up", conns, config)
    assert code == 0, output
    assert emulator.pairs() == sorted([
        (SPOKE_EU.id, HUB.id, ("audit", "logs")),
        (SPOKE_US.id, HUB.id, ("metrics",)),
        (SPOKE_EU.id, SPOKE_US.id, ("logs",)),
    ])  # fmt: skip


def test_config_changes_the_outcome_of_a_rule(stack: Stack) -> None:
    conns = [connection("eu-to-hub", HUB.id, ["logs"]), connection("eu-to-us", SPOKE_US.id, ["logs"])]
    code, output = stack.run("preview", conns)
    assert code == 0, output  # two sinks: within the default limit of 5

    code, output = stack.run("preview", conns, {"max-sinks-per-source": {"maxSinks": 1, **NAMES}})
    assert code != 0, output
    assert violations(output) == [f"- [mandatory]  max-sinks-per-source  ({OUR_TYPE}: eu-to-hub)"]
    assert f"source org spoke-eu ({SPOKE_EU.id}) would share data with 2 orgs" in output
    assert "(eu-to-hub, eu-to-us): over the limit of 1" in output

    advisory = {"max-sinks-per-source": {"enforcementLevel": "advisory", "maxSinks": 1, **NAMES}}
    code, output = stack.run("preview", conns, advisory)
    assert code == 0, output
    assert violations(output) == [f"- [advisory]  max-sinks-per-source  ({OUR_TYPE}: eu-to-hub)"]


def test_topology_and_production_rules_from_config(stack: Stack) -> None:
    conns = [
        connection("eu-to-hub", HUB.id, ["logs"]),
        connection("us-to-eu", SPOKE_EU.id, ["metrics"], source="spoke-us"),
    ]
    config = {
        "declared-topology": {"hub": "hub", **NAMES},
        "no-production-to-non-production": {
            "orgTags": {"spoke-us": ["production"], SPOKE_EU.id: ["non-production"]},
            **NAMES,
        },
    }
    code, output = stack.run("preview", conns, config)
    assert code != 0, output
    assert violations(output) == [
        f"- [mandatory]  declared-topology  ({OUR_TYPE}: us-to-eu)",
        f"- [mandatory]  no-production-to-non-production  ({OUR_TYPE}: us-to-eu)",
    ]
    assert "add [spoke-us, spoke-eu] to allowedPairs" in output
    assert (
        f"spoke-us ({SPOKE_US.id}), tagged production, with spoke-eu ({SPOKE_EU.id}), tagged non-production"
        in output
    )


def test_bad_config_is_refused_naming_the_setting(stack: Stack, emulator: EmulatorControl) -> None:
    conns = [connection("eu-to-hub", HUB.id, ["logs"])]
    code, output = stack.run("preview", conns, {"max-sinks-per-source": {"maxSinks": "five"}})
    assert code != 0  # the engine checks each policy's schema before anything runs
    assert "max-sinks-per-source: maxSinks: Invalid type. Expected: integer, given: string" in output

    code, output = stack.run("preview", conns, {"declared-topology": {"hubb": "hub"}})
    assert code != 0  # a setting the schema allows but the policy does not know: a typo
    assert violations(output) == [f"- [mandatory]  declared-topology  ({OUR_TYPE}: eu-to-hub)"]
    assert "unknown setting(s) hubb for policy declared-topology. Fix: use only hub, allowedPairs" in output
    assert emulator.mutating_requests() == []


def test_the_default_limit_is_five_sinks_per_source(stack: Stack) -> None:
    sinks = [f"00000000-0000-4000-8000-{i:012d}" for i in range(6)]  # unchecked: validate_sink off
    conns = [connection(f"to-{i}", sink, ["logs"], validate_sink=False) for i, sink in enumerate(sinks)]
    code, output = stack.run("preview", conns[:5])
    assert code == 0, output
    code, output = stack.run("preview", conns)
    assert code != 0, output
    assert "would share data with 6 orgs" in output and "over the limit of 5" in output
    assert "the own org of stack conns/dev (name it with stackOrg or stackOrgs)" in output


def test_unknown_sink_passes_preview_and_is_refused_at_up(stack: Stack, emulator: EmulatorControl) -> None:
    # us-to-eu's sink is eu-to-hub's source org id: unknown until eu-to-hub exists.
    conns = [
        connection("eu-to-hub", HUB.id, ["logs"]),
        connection("us-to-eu", "@eu-to-hub", ["audit"], source="spoke-us"),
    ]
    config = {"audit-sinks-allow-listed": {"allowedSinks": ["hub"], **NAMES}}
    code, output = stack.run("preview", conns, config)
    assert code == 0, output

    code, output = stack.run("up", conns, config)
    assert code != 0, output
    assert f"- [mandatory]  audit-sinks-allow-listed  ({OUR_TYPE}: us-to-eu)" in violations(output)
    assert f"shares audit data with org spoke-eu ({SPOKE_EU.id})" in output
    assert emulator.pairs() == [(SPOKE_EU.id, HUB.id, ("logs",))]  # the refused one was never made


def test_sample_multi_org_stack_with_the_example_config(tmp_path: Path, emulator: EmulatorControl) -> None:
    project = tmp_path / "multi-org"
    shutil.copytree(ROOT / "programs" / "multi-org", project, ignore=shutil.ignore_patterns("__pycache__"))
    cli = PulumiCLI(tmp_path / "pulumi", extra_env={"PULUMI_CONFIG_PASSPHRASE": "demo-passphrase"})
    cli.stack_init("demo-account", project)
    cli.config_set("demo-account", project, "datadog:apiUrl", emulator.url)
    preview = ["preview", "--stack", "demo-account", "--policy-pack", str(PACK)]

    proc = cli.run(*preview, "--policy-pack-config", str(EXAMPLE_CONFIG), cwd=project, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert violations(proc.stdout) == []

    proc = cli.run(*preview, cwd=project, check=False)  # defaults: no sink is allowed audit data
    assert proc.returncode != 0
    assert violations(proc.stdout) == [
        f"- [mandatory]  audit-sinks-allow-listed  ({OUR_TYPE}: eu-audit-to-us)"
    ]


def test_connections_made_by_a_person_are_reported_advisory_by_default(
    stack: Stack, emulator: EmulatorControl
) -> None:
    """created-by-service-account reads the outputs of existing connections: the stack's keys are
    spoke-eu's admin's (a person) until a service account's replace them."""
    code, output = stack.run("up", [connection("eu-to-hub", HUB.id, ["logs"])])
    assert code == 0, output
    assert violations(output) == [f"- [advisory]  created-by-service-account  ({OUR_TYPE}: eu-to-hub)"]
    assert f"OrgConnection 'eu-to-hub' was made by {SPOKE_EU.user_name}, a person" in output
    assert "`pulumi up --replace <urn of eu-to-hub>`" in output

    mandatory = {"created-by-service-account": "mandatory"}
    code, output = stack.run("preview", [connection("eu-to-hub", HUB.id, ["logs"])], mandatory)
    assert code != 0, output
    assert violations(output) == [f"- [mandatory]  created-by-service-account  ({OUR_TYPE}: eu-to-hub)"]

    # A service account's key: the person's connection goes, the new one passes the mandatory rule.
    stack.cli.config_set(
        "dev", stack.dir, "datadog:appKey", service_account_of(SPOKE_EU).app_key, secret=True
    )
    code, output = stack.run("up", [connection("eu-to-us", SPOKE_US.id, ["logs"])], mandatory)
    assert code == 0, output
    assert violations(output) == []
    assert emulator.pairs() == [(SPOKE_EU.id, SPOKE_US.id, ("logs",))]

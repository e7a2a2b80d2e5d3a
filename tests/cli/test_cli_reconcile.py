"""`reconcile`: stacks' state (exports made by the real pulumi CLI) against the emulator's API.

One module-wide world deploys four stacks of one project with the real CLI and keeps their
exports; before each test the emulator is reset and the world's connections are put back with
their ids, then the test changes the API out of band (by hand, as a user in the UI would).
"""

from __future__ import annotations

import ast
import json
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from cli_helpers import FAKE_APP_KEY, one_error_line_of, run

from datadog_org_connections.emulator import Emulator
from support.emulator_control import EmulatorControl
from support.pulumi_cli import PulumiCLI, find_pulumi
from support.seed import HUB, SPOKE_AP, SPOKE_EU, SPOKE_EU_READER_APP_KEY, SPOKE_US, Org

pytestmark = pytest.mark.skipif(find_pulumi() is None, reason="no pulumi CLI: run scripts/install-pulumi")

PROGRAM = """
import json
import pulumi
from datadog_org_connections import OrgConnection

for c in json.loads(pulumi.Config().require("connections")):
    types = pulumi.Output.secret(c["types"]) if c.get("secret") else c["types"]
    OrgConnection(c["name"], sink_org_id=c["sink"], connection_types=types,
                  source_org=c.get("source"), adopt_id=c.get("adopt"))
"""


@dataclass
class World:
    """Four deployed stacks of project `reconcile`, their exports, and the API they left."""

    dir: Path
    cli: PulumiCLI
    files: dict[str, Path] = field(default_factory=dict)  # stack -> export file
    ids: dict[str, str] = field(default_factory=dict)  # "stack:resource" -> connection id
    snapshot: list[dict[str, Any]] = field(default_factory=list)

    def deploy(
        self, stack: str, keys: Org | None, aliases: dict[str, Org], conns: list[dict[str, Any]]
    ) -> None:
        self.cli.stack_init(stack, self.dir)
        for key, value, secret in [
            *((("datadog:apiKey", keys.api_key, True), ("datadog:appKey", keys.app_key, True)) if keys else ()),
            ("orgConnections:orgs", json.dumps({a: {"apiKey": o.api_key, "appKey": o.app_key}
                                                for a, o in aliases.items()}), True),
            ("connections", json.dumps(conns), False),
        ]:  # fmt: skip
            self.cli.config_set(stack, self.dir, key, value, secret=secret)
        self.cli.run("up", "--yes", "--skip-preview", "--stack", stack, cwd=self.dir)
        export = self.cli.export(stack, self.dir)
        for res in export["deployment"]["resources"]:
            if res["type"].endswith(":OrgConnection"):
                self.ids[f"{stack}:{res['urn'].split('::')[-1]}"] = res["id"]
        self.files[stack] = self.dir.parent / f"{stack}.json"
        self.files[stack].write_text(json.dumps(export))

    def config(self, stack: str) -> str:
        """`pulumi config --show-secrets --json` of a stack (what a user pipes into --stack-config)."""
        return self.cli.run("config", "--show-secrets", "--json", "--stack", stack, cwd=self.dir).stdout

    def export_shown(self, stack: str) -> str:
        """`pulumi stack export --show-secrets` (secrets in clear, the stack's keys included)."""
        return self.cli.run("stack", "export", "--show-secrets", "--stack", stack, cwd=self.dir).stdout


@pytest.fixture(scope="module")
def world(shared_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> World:
    EmulatorControl(shared_emulator.url).reset()
    root = tmp_path_factory.mktemp("reconcile")
    project = root / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: reconcile\nruntime: python\n")
    (project / "__main__.py").write_text(textwrap.dedent(PROGRAM))
    w = World(project, PulumiCLI(root / "pulumi"))
    url = shared_emulator.url
    for stack in ("eu", "acct", "dup", "sec"):
        w.cli.stack_init(stack, project)
        w.cli.config_set(stack, project, "datadog:apiUrl", url)
    w.deploy("eu", SPOKE_EU, {}, [
        {"name": "to-hub", "sink": HUB.id, "types": ["logs"]},
        {"name": "to-us", "sink": SPOKE_US.id, "types": ["metrics"]},
    ])  # fmt: skip
    w.deploy("acct", None, {"hub": HUB, "us": SPOKE_US}, [
        {"name": "hub-to-ap", "source": "hub", "sink": SPOKE_AP.id, "types": ["logs", "metrics"]},
        {"name": "us-to-hub", "source": "us", "sink": HUB.id, "types": ["audit"]},
    ])  # fmt: skip
    # A second stack taking over eu's connection by id: two stacks now hold it.
    w.deploy("dup", SPOKE_EU, {}, [
        {"name": "eu-hub-copy", "sink": HUB.id, "types": ["logs"], "adopt": w.ids["eu:to-hub"]},
    ])  # fmt: skip
    # Secret types: the state holds the output encrypted.
    w.deploy(
        "sec", SPOKE_AP, {}, [{"name": "to-eu", "sink": SPOKE_EU.id, "types": ["audit"], "secret": True}]
    )
    w.snapshot = EmulatorControl(url).connections()
    assert len(w.snapshot) == 5
    return w


@pytest.fixture
def api(world: World, emulator: EmulatorControl) -> Iterator[EmulatorControl]:
    """The emulator holding exactly the world's connections (same ids), request log empty."""
    for conn in world.snapshot:
        rels = conn["relationships"]
        body = {
            "id": conn["id"],
            "source": rels["source_org"]["data"]["id"],
            "sink": rels["sink_org"]["data"]["id"],
            "connection_types": conn["attributes"]["connection_types"],
            "created_at": conn["attributes"]["created_at"],
            "created_by": rels["created_by"]["data"]["id"],
        }
        requests.post(f"{emulator.url}/_emulator/connections", json=body, timeout=30).raise_for_status()
    emulator.clear_requests()
    yield emulator


def reconcile(world: World, api: EmulatorControl, *args: str, org: Org | None = SPOKE_EU, **kw: Any) -> Any:
    return run("reconcile", *args, url=api.url, org=org, **kw)


def files(world: World, *stacks: str) -> list[str]:
    return [str(world.files[s]) for s in stacks]


def adopt_calls(code: str) -> list[dict[str, Any]]:
    calls = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "OrgConnection":
            call = {str(kw.arg): ast.literal_eval(kw.value) for kw in node.keywords}
            calls.append({"name": ast.literal_eval(node.args[0]), **call})
    return calls


# ----------------------------------------------------------------------------------- in sync


def test_in_sync_with_the_keys_of_the_stacks(world: World, api: EmulatorControl) -> None:
    """spoke-eu's keys from the environment, acct's aliases (hub, us) from its stack config."""
    args = [*files(world, "eu", "acct"), "--stack-config", "-"]
    result = reconcile(world, api, *args, input=world.config("acct"))
    assert result.code == 0, result
    assert "in sync: 4 connection(s)" in result.out and result.err == ""
    assert "ORPHANS" not in result.out and "from datadog_org_connections" not in result.out

    as_json = reconcile(world, api, *args, "--json", input=world.config("acct"))
    assert as_json.code == 0, as_json
    doc = json.loads(as_json.out)
    assert doc["status"] == "in_sync"
    assert {o["id"] for o in doc["orgs"]} == {SPOKE_EU.id, HUB.id, SPOKE_US.id}
    assert [s["stack"] for s in doc["stacks"]] == ["reconcile/eu", "reconcile/acct"]
    for key in (
        "orphans",
        "ghosts",
        "type_differences",
        "shared",
        "unchecked",
        "orgs_without_keys",
        "revoked",
        "repair",
    ):
        assert doc[key] == [], key
    assert doc["adoption_code"] is None
    # Reading never writes.
    assert [r["method"] for r in api.requests()] == ["GET"] * len(api.requests())


def test_keys_of_other_orgs_from_org_aliases(world: World, api: EmulatorControl) -> None:
    env = {"DD_API_KEY_HUB": HUB.api_key, "DD_APP_KEY_HUB": HUB.app_key,
           "DD_API_KEY_US": SPOKE_US.api_key, "DD_APP_KEY_US": SPOKE_US.app_key}  # fmt: skip
    result = reconcile(world, api, *files(world, "eu", "acct"), "--org", "hub", "--org", "us", env=env)
    assert result.code == 0, result

    missing = reconcile(world, api, *files(world, "eu"), "--org", "spoke-ap", env=env)
    assert missing.code == 3, missing
    assert "DD_API_KEY_SPOKE_AP and DD_APP_KEY_SPOKE_AP" in one_error_line_of(missing)


def test_a_refused_key_is_named_and_the_other_orgs_still_reported(world: World, api: EmulatorControl) -> None:
    keys = {"DD_API_KEY_HUB": HUB.api_key, "DD_APP_KEY_HUB": HUB.app_key,
            "DD_API_KEY_US": SPOKE_US.api_key, "DD_APP_KEY_US": SPOKE_US.app_key,
            "DD_API_KEY_AP": SPOKE_AP.api_key}  # fmt: skip
    args = [*files(world, "eu", "acct"), "--org", "hub", "--org", "ap", "--org", "us"]
    label = "--org ap (DD_API_KEY_AP / DD_APP_KEY_AP)"

    result = reconcile(world, api, *args, env={**keys, "DD_APP_KEY_AP": FAKE_APP_KEY})
    assert result.code == 7, result  # was 5: the whole report aborted
    assert (
        "orgs whose keys were given: hub (a1b10001), spoke-eu (a1b10002), spoke-us (a1b10003)" in result.out
    )
    [row] = [line for line in result.out.splitlines() if line.startswith(label)]
    assert "list org connections: HTTP 403" in row
    assert "no drift found in what could be checked" in result.out
    [warning] = result.err.splitlines()
    assert warning.startswith(f"warning: {label}: not used") and "HTTP 403" in warning
    doc = json.loads(reconcile(world, api, *args, "--json", env={**keys, "DD_APP_KEY_AP": FAKE_APP_KEY}).out)
    assert doc["status"] == "incomplete"
    assert [(r["keys"], r["alias"]) for r in doc["refused_keys"]] == [(label, "ap")]
    assert [o["name"] for o in doc["orgs"]] == [
        "spoke-eu",
        "hub",
        "spoke-us",
    ]  # the order the keys were given

    # What the refusal hid: with spoke-ap's keys, its connection into spoke-eu (stack sec, not given) is an orphan.
    accepted = reconcile(world, api, *args, env={**keys, "DD_APP_KEY_AP": SPOKE_AP.app_key})
    assert accepted.code == 6 and "ORPHANS" in accepted.out, accepted
    # Every key set refused: nothing to report; the error names the keys, exit status 5 as before.
    alone = reconcile(world, api, *files(world, "eu"), app_key=FAKE_APP_KEY)
    assert alone.code == 5, alone
    assert "the keys of DD_API_KEY / DD_APP_KEY: list org connections: HTTP 403" in one_error_line_of(alone)


# ------------------------------------------------------------------------------------- drift


def test_orphans_ghosts_and_types_that_differ(world: World, api: EmulatorControl) -> None:
    orphan = api.create(HUB.name, SPOKE_EU.id, ["logs"])["id"]  # made by hand
    api.delete(world.ids["eu:to-us"])  # deleted by hand: a ghost in stack eu
    api.patch(world.ids["acct:us-to-hub"], ["audit", "logs"])  # changed by hand
    args = [*files(world, "eu", "acct"), "--stack-config", "-"]

    result = reconcile(world, api, *args, input=world.config("acct"))
    assert result.code == 6, result
    report, code = result.out.split("\n\n# Orphan org connections", 1)
    for title in ("ORPHANS", "GHOSTS", "TYPES DIFFER"):
        assert title in report
    assert "SHARED" not in report and "UNCHECKED" not in report
    assert (
        "drift found:\n  1 orphan(s)" in report
        and "1 ghost(s)" in report
        and "1 type difference(s)" in report
    )
    code = "# Orphan org connections" + code
    compile(code, "adopt.py", "exec")
    assert adopt_calls(code) == [
        {"name": "hub-to-spoke-eu", "source_org": "hub", "sink_org_id": SPOKE_EU.id,
         "connection_types": ["logs"], "adopt_id": orphan},
    ]  # fmt: skip
    assert "# --- in stack reconcile/acct" in code  # where hub's other connections are

    doc = json.loads(reconcile(world, api, *args, "--json", input=world.config("acct")).out)
    assert doc["status"] == "drift"
    assert [(o["id"], o["adopt_as"]) for o in doc["orphans"]] == [
        (orphan, {"stack": "reconcile/acct", "resource": "hub-to-spoke-eu", "source_org": "hub",
                  "interrupted_create": False, "planned_create": False}),
    ]  # fmt: skip
    assert [(g["id"], g["stack"], g["resource"]) for g in doc["ghosts"]] == [
        (world.ids["eu:to-us"], "reconcile/eu", "to-us")
    ]
    [diff] = doc["type_differences"]
    assert (diff["id"], diff["connection_types"], diff["api_connection_types"]) == (
        world.ids["acct:us-to-hub"], ["audit"], ["audit", "logs"],
    )  # fmt: skip
    assert doc["adoption_code"] == code

    written = world.dir.parent / "adopt.py"
    to_file = reconcile(world, api, *args, "-o", str(written), input=world.config("acct"))
    assert to_file.code == 6 and written.read_text() == code and "# Orphan" not in to_file.out
    assert f"written to {written}" in to_file.err


def test_an_orphan_of_an_org_no_given_stack_holds(world: World, api: EmulatorControl) -> None:
    """hub's keys with eu's stack: acct's hub -> spoke-ap is held by no given stack, of a managed org."""
    result = reconcile(world, api, *files(world, "eu"), "--json", org=HUB)
    assert result.code == 6, result
    doc = json.loads(result.out)
    assert [(o["id"], o["adopt_as"]) for o in doc["orphans"]] == [
        (world.ids["acct:hub-to-ap"], {"stack": None, "resource": "hub-to-spoke-ap", "source_org": None,
                                       "interrupted_create": False, "planned_create": False}),
    ]  # fmt: skip
    code = doc["adoption_code"]
    assert "# --- in the stack that manages the source org" in code and "source_org=" not in code
    assert adopt_calls(code)[0]["adopt_id"] == world.ids["acct:hub-to-ap"]
    # spoke-us -> hub (acct's too) is spoke-us's business: neither a key nor a given stack manages it.
    assert world.ids["acct:us-to-hub"] not in result.out


def test_an_id_held_by_two_stacks(world: World, api: EmulatorControl) -> None:
    result = reconcile(world, api, *files(world, "eu", "dup"), "--json")
    assert result.code == 6, result
    [shared] = json.loads(result.out)["shared"]
    assert shared["id"] == world.ids["eu:to-hub"]
    assert sorted((h["stack"], h["resource"]) for h in shared["held_by"]) == [
        ("reconcile/dup", "eu-hub-copy"), ("reconcile/eu", "to-hub"),
    ]  # fmt: skip
    text = reconcile(world, api, *files(world, "eu", "dup"))
    assert (
        "SHARED" in text.out
        and "reconcile/eu: to-hub" in text.out
        and "reconcile/dup: eu-hub-copy" in text.out
    )
    assert "pulumi state delete" in text.out
    # Without eu's export, eu's other connection is held by no given stack: an orphan.
    alone = reconcile(world, api, *files(world, "dup"), "--json")
    assert alone.code == 6 and json.loads(alone.out)["shared"] == []
    assert [o["id"] for o in json.loads(alone.out)["orphans"]] == [world.ids["eu:to-us"]]


def test_revoke_orphans_asks_then_deletes_only_them(world: World, api: EmulatorControl) -> None:
    a = api.create(SPOKE_EU.name, SPOKE_AP.id, ["logs"])["id"]
    b = api.create(SPOKE_US.name, SPOKE_AP.id, ["metrics"])["id"]  # revoked with acct's alias `us`
    # From an org neither the stacks nor the keys manage (spoke-ap): that org's business, left alone.
    other = api.create(SPOKE_AP.name, HUB.id, ["metrics"])["id"]
    args = [*files(world, "eu", "acct"), "--stack-config", "-", "--revoke-orphans"]
    config = world.config("acct")

    no_answer = reconcile(world, api, *args, input=config)  # stdin consumed by --stack-config
    assert no_answer.code == 2 and "pass --yes" in no_answer.err, no_answer
    declined = reconcile(world, api, *files(world, "eu"), "--revoke-orphans", input="n\n")
    assert declined.code == 1 and "not confirmed: nothing revoked" in declined.err, declined
    assert {a, b} <= {c["id"] for c in api.connections()}
    assert [r for r in api.mutating_requests()] == []

    done = reconcile(world, api, *args, "--yes", input=config)
    assert done.code == 0, done  # the orphans were the only drift
    assert f"revoked connection {a}" in done.out and f"revoked connection {b}" in done.out
    assert "from datadog_org_connections" not in done.out
    assert sorted(r["path"].rsplit("/", 1)[-1] for r in api.mutating_requests()) == sorted([a, b])
    assert {c["id"] for c in api.connections()} == {c["id"] for c in world.snapshot} | {other}


# ---------------------------------------------------------------------------------- coverage


def test_connections_of_orgs_without_keys_are_not_called_in_sync(world: World, api: EmulatorControl) -> None:
    result = reconcile(world, api, *files(world, "eu", "acct"))  # spoke-eu's keys only
    assert result.code == 7, result
    assert (
        "UNCHECKED: no keys given for either org (2)" in result.out
        and "no drift found in what could be checked" in result.out
    )
    warnings = result.err.splitlines()
    assert all(line.startswith("warning: ") for line in warnings) and len(warnings) == 2
    assert "hub (a1b10001)" in warnings[0] and "spoke-us" in warnings[0]


def test_read_only_keys_work_while_the_connections_tell_the_org(world: World, api: EmulatorControl) -> None:
    ok = reconcile(world, api, *files(world, "eu"), app_key=SPOKE_EU_READER_APP_KEY)
    assert ok.code == 0, ok  # 403 on /api/v2/org, but current_user names the org
    api.delete(world.ids["eu:to-us"])
    api.delete(world.ids["sec:to-eu"])
    one_left = reconcile(world, api, *files(world, "eu"), app_key=SPOKE_EU_READER_APP_KEY)
    assert one_left.code == 6, one_left  # current_user names the org: the two deleted are ghosts
    api.faults(kinds=["server_error"], path="/api/v2/current_user")  # and nothing names it
    ambiguous = reconcile(world, api, *files(world, "eu"), app_key=SPOKE_EU_READER_APP_KEY)
    assert ambiguous.code == 5, ambiguous
    line = one_error_line_of(ambiguous)
    assert "cannot tell which org these keys belong to" in line and "org_connections_write" in line


# -------------------------------------------------------------------------------- the exports


def test_encrypted_outputs_are_named_with_the_fix(world: World, api: EmulatorControl) -> None:
    result = reconcile(world, api, *files(world, "sec"), org=SPOKE_AP)
    assert result.code == 2, result
    line = one_error_line_of(result)
    assert "output connection_types of to-eu is encrypted" in line and "--show-secrets" in line
    # The shown export (the stack's keys in clear in its provider's inputs) through stdin.
    shown = world.export_shown("sec")
    assert SPOKE_AP.api_key in shown
    ok = reconcile(world, api, "-", org=SPOKE_AP, input=shown)
    assert ok.code == 0, ok  # and the run helper checked that no key was printed


def test_a_connection_deleted_by_an_unfinished_replacement_is_no_ghost(
    world: World, api: EmulatorControl, tmp_path: Path
) -> None:
    """The engine marks it `pendingReplacement` (see tests/e2e/test_renames_and_replacements.py);
    here the flag is set on eu's real export, and the connection deleted as the engine did."""
    export = json.loads(world.files["eu"].read_text())
    for res in export["deployment"]["resources"]:
        if res["urn"].endswith("::to-us"):
            res["pendingReplacement"] = True
    path = tmp_path / "eu.json"
    path.write_text(json.dumps(export))
    api.delete(world.ids["eu:to-us"])
    result = reconcile(world, api, str(path))
    assert result.code == 0, result
    assert "GHOSTS" not in result.out and "in sync: 1 connection(s)" in result.out
    assert result.err == (
        "warning: 1 connection(s) were deleted by a replacement whose create has not succeeded yet: "
        "the next `pulumi up` creates them\n"
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("not json", "not JSON"),
        ('{"resources": []}', "not a `pulumi stack export` document"),
    ],
)
def test_unusable_exports(
    world: World, api: EmulatorControl, tmp_path: Path, content: str, expected: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    result = reconcile(world, api, str(bad))
    assert result.code == 2 and expected in one_error_line_of(result), result


def test_usage_errors(world: World, api: EmulatorControl) -> None:
    twice = reconcile(world, api, *files(world, "eu", "eu"))
    assert twice.code == 2 and "reconcile/eu is given twice" in one_error_line_of(twice)
    both_stdin = reconcile(world, api, "-", "--stack-config", "-", input="{}")
    assert both_stdin.code == 2 and "stdin (-) can feed one input only" in both_stdin.err
    no_stacks = reconcile(world, api)
    assert no_stacks.code == 2 and "EXPORT files (`pulumi stack export`) or --stack NAME" in no_stacks.err
    no_keys = reconcile(world, api, *files(world, "eu"), org=None)
    assert no_keys.code == 3 and "DD_API_KEY" in one_error_line_of(no_keys)
    assert api.requests() == []

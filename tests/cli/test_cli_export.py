"""`export`: Pulumi code that adopts the current org's outgoing connections by id."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import run

from datadog_org_connections.cli.views import CurrentOrg, render_export, resource_names
from datadog_org_connections.models import Connection
from support.emulator_control import EmulatorControl
from support.pulumi_cli import PulumiCLI, find_pulumi
from support.seed import HUB, SPOKE_AP, SPOKE_EU, SPOKE_US

HERE = Path(__file__).resolve().parent


def org_connection_calls(code: str) -> list[dict[str, Any]]:
    """The ``OrgConnection(...)`` calls of ``code``: name and keyword arguments as Python values."""
    calls = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "OrgConnection":
            [name] = node.args
            call: dict[str, Any] = {str(kw.arg): ast.literal_eval(kw.value) for kw in node.keywords}
            call["name"] = ast.literal_eval(name)
            calls.append(call)
    return calls


def string_constants(code: str) -> set[str]:
    return {
        n.value for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def test_export_adopts_outgoing_and_lists_incoming_as_comments(emulator: EmulatorControl) -> None:
    to_eu = emulator.create(HUB.name, SPOKE_EU.id, ["metrics", "logs"])
    to_ap = emulator.create(HUB.name, SPOKE_AP.id, ["audit"])
    from_us = emulator.create(SPOKE_US.name, HUB.id, ["logs"])

    result = run("export", url=emulator.url)
    assert result.code == 0, result
    code = result.out
    compile(code, "export.py", "exec")
    assert "from datadog_org_connections import OrgConnection" in code
    assert "pulumi up" in code
    calls = sorted(org_connection_calls(code), key=lambda c: c["name"])
    assert calls == [
        {
            "name": "to-spoke-ap",
            "sink_org_id": SPOKE_AP.id,
            "connection_types": ["audit"],
            "adopt_id": to_ap["id"],
        },
        {
            "name": "to-spoke-eu",
            "sink_org_id": SPOKE_EU.id,
            "connection_types": ["logs", "metrics"],
            "adopt_id": to_eu["id"],
        },
    ]
    # The incoming connection is only a comment, naming its source org.
    assert from_us["id"] not in string_constants(code)
    [comment] = [line for line in code.splitlines() if from_us["id"] in line]
    assert comment.startswith("#") and SPOKE_US.id in comment and "spoke-us" in comment
    assert "2 outgoing" in result.err and "1 incoming" in result.err

    # Exported from the sink's side: nothing to adopt there, the hub's connection is a comment.
    as_eu = run("export", url=emulator.url, org=SPOKE_EU)
    assert as_eu.code == 0, as_eu
    compile(as_eu.out, "export.py", "exec")
    assert org_connection_calls(as_eu.out) == []
    assert to_eu["id"] in as_eu.out and "no outgoing connections" in as_eu.out


def test_export_to_a_file_runs_as_a_pulumi_program(emulator: EmulatorControl, tmp_path: Path) -> None:
    to_eu = emulator.create(HUB.name, SPOKE_EU.id, ["logs"])
    to_us = emulator.create(HUB.name, SPOKE_US.id, ["logs", "audit"])
    program = tmp_path / "__main__.py"
    program.write_text("stale")
    result = run("export", "--output", str(program), url=emulator.url)
    assert result.code == 0, result
    assert result.out == "" and str(program) in result.err
    # Executed under Pulumi's mocks: the resources are constructed with the adopting inputs.
    proc = subprocess.run(
        [sys.executable, str(HERE / "pulumi_mock_run.py"), str(program)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    registered = {r["name"]: r for r in json.loads(proc.stdout)}
    assert {n: r["type"] for n, r in registered.items()} == {
        "to-spoke-eu": "pulumi-python:dynamic/datadog:OrgConnection",
        "to-spoke-us": "pulumi-python:dynamic/datadog:OrgConnection",
    }
    assert registered["to-spoke-eu"]["inputs"] == {
        "sink_org_id": SPOKE_EU.id,
        "connection_types": ["logs"],
        "adopt_id": to_eu["id"],
        "__owner": "export-test/dev/to-spoke-eu",  # the declaring resource, set by OrgConnection
        "__secrets": [],  # no input passed as a secret
    }
    assert registered["to-spoke-us"]["inputs"]["adopt_id"] == to_us["id"]


def test_export_leaves_the_output_file_alone_on_errors(emulator: EmulatorControl, tmp_path: Path) -> None:
    target = tmp_path / "prog.py"
    target.write_text("# mine\n")
    result = run("export", "-o", str(target), url=emulator.url, app_key="0" * 40)
    assert result.code == 5, result
    assert target.read_text() == "# mine\n"
    assert [p.name for p in tmp_path.iterdir()] == ["prog.py"]


def _conn(sink_name: str, sink_id: str, conn_id: str, source: str = HUB.id) -> Connection:
    return Connection(
        id=conn_id,
        source_org_id=source,
        source_org_name="hub",
        sink_org_id=sink_id,
        sink_org_name=sink_name,
        connection_types=("logs",),
        created_at="2025-08-25T18:13:19.375125+00:00",
        created_by_id="",
        created_by_name="",
    )


def test_resource_names_are_sanitized_and_unique() -> None:
    conns = [
        _conn("Spoke EU", "a1", "c1"),
        _conn("spoke-eu!", "a2", "c2"),
        _conn("spoke_eu", "a3", "c3"),
        _conn("", "B2C20001-7f97", "c4"),
        _conn("日本", "d4e50001-7f97", "c5"),
        _conn("x" * 200, "a6", "c6"),
    ]
    names = resource_names(conns)
    assert names[:5] == [
        "to-spoke-eu",
        "to-spoke-eu-2",
        "to-spoke-eu-3",
        "to-org-b2c20001",
        "to-org-d4e50001",
    ]
    assert len(names[5]) <= 63 and names[5].startswith("to-xxx")
    assert len(set(names)) == len(names)


def test_hostile_org_names_cannot_inject_code() -> None:
    evil = 'evil"\nimport os; os.system("boom")  # \r\u2028'
    incoming = _conn("hub", HUB.id, "c9", source=SPOKE_US.id)
    incoming = Connection(**{**incoming.__dict__, "source_org_name": "us\nimport sys"})
    code = render_export(CurrentOrg(HUB.id, "hub\nimport x", ()), [_conn(evil, SPOKE_EU.id, "c1"), incoming])
    tree = ast.parse(code)
    assert [type(n).__name__ for n in tree.body] == ["ImportFrom", "Expr"]  # one import, one call
    assert org_connection_calls(code)[0]["adopt_id"] == "c1"
    for line in code.split("\n"):
        assert line.startswith("#") or "import " not in line or line.startswith("from datadog_org"), line


@pytest.mark.e2e
@pytest.mark.skipif(find_pulumi() is None, reason="no pulumi CLI: run scripts/install-pulumi")
def test_pulumi_up_of_the_export_adopts_without_recreating(emulator: EmulatorControl, tmp_path: Path) -> None:
    to_eu = emulator.create(HUB.name, SPOKE_EU.id, ["logs", "metrics"])
    to_ap = emulator.create(HUB.name, SPOKE_AP.id, ["audit"])
    emulator.create(SPOKE_US.name, HUB.id, ["logs"])
    before = emulator.pairs()

    project = tmp_path / "hub"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: hub-connections\nruntime: python\n")
    result = run("export", "-o", str(project / "__main__.py"), url=emulator.url)
    assert result.code == 0, result

    pulumi = PulumiCLI(tmp_path / "pulumi")
    pulumi.stack_init("hub", project)
    pulumi.config_set("hub", project, "datadog:apiUrl", emulator.url)
    pulumi.config_set("hub", project, "datadog:apiKey", HUB.api_key, secret=True)
    pulumi.config_set("hub", project, "datadog:appKey", HUB.app_key, secret=True)
    emulator.clear_requests()
    pulumi.run("up", "--yes", "--skip-preview", "--stack", "hub", cwd=project)

    assert emulator.mutating_requests() == []  # adopted: nothing created, updated or deleted
    assert emulator.pairs() == before
    ids = {
        r["id"]
        for r in pulumi.export("hub", project)["deployment"]["resources"]
        if "OrgConnection" in r["type"]
    }
    assert ids == {to_eu["id"], to_ap["id"]}
    preview = pulumi.run("preview", "--stack", "hub", "--expect-no-changes", cwd=project)
    assert "3 unchanged" in preview.stdout

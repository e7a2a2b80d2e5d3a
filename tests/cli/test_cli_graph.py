"""`graph`: Mermaid, DOT and SVG pictures of the connections, through the entry point.

A small account is seeded with fixed connection ids, so the whole text can be compared. Drift is
drawn from a stack deployed by the real pulumi CLI and then changed by hand in the emulator.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import requests
from cli_helpers import one_error_line_of, run

from datadog_org_connections.cli.graph import Edge, Graph, to_dot, to_mermaid
from support.emulator_control import EmulatorControl
from support.pulumi_cli import PulumiCLI, find_pulumi
from support.seed import HUB, SPOKE_AP, SPOKE_EU, SPOKE_US, service_account_of

H, EU, US, AP = (o.id.replace("-", "") for o in (HUB, SPOKE_EU, SPOKE_US, SPOKE_AP))


def seed(emulator: EmulatorControl) -> None:
    """hub -> spoke-eu (logs, metrics), spoke-us -> hub (audit), hub -> spoke-ap (logs): made by the
    source orgs' service accounts (a person's connections are marked at risk: see the drift test)."""
    for n, (source, sink, types) in enumerate(
        [(HUB, SPOKE_EU, ["metrics", "logs"]), (SPOKE_US, HUB, ["audit"]), (HUB, SPOKE_AP, ["logs"])], start=1
    ):
        body = {"id": f"00000000-0000-4000-8000-00000000000{n}", "source": source.id, "sink": sink.id,
                "connection_types": types, "created_by": service_account_of(source).name}  # fmt: skip
        requests.post(f"{emulator.url}/_emulator/connections", json=body, timeout=30).raise_for_status()


MERMAID = f"""\
flowchart LR
  %% Org connections drawn by `dd-org-connections graph`: source --> sink, labelled with the shared types
  org_{H}["hub<br/>a1b10001"]
  org_{AP}["spoke-ap<br/>a1b10004"]
  org_{EU}["spoke-eu<br/>a1b10002"]
  org_{US}["spoke-us<br/>a1b10003"]
  org_{H} -->|"logs"| org_{AP}
  org_{H} -->|"logs, metrics"| org_{EU}
  org_{US} -->|"audit"| org_{H}
  linkStyle 0 stroke:#2f4858,color:#2f4858,stroke-width:2px
  linkStyle 1 stroke:#2f4858,color:#2f4858,stroke-width:2px
  linkStyle 2 stroke:#2f4858,color:#2f4858,stroke-width:2px
"""

DOT_HEAD = """\
// Org connections drawn by `dd-org-connections graph`: source -> sink, labelled with the shared types
digraph org_connections {
  graph [rankdir=LR, fontname="Helvetica", fontsize=11, nodesep=0.5, ranksep=1.0, pad=0.3];
  node [shape=box, style="rounded,filled", fillcolor="#f5f7fa", color="#2f4858", fontname="Helvetica", fontsize=12, margin="0.2,0.1"];
  edge [fontname="Helvetica", fontsize=10, color="#2f4858", fontcolor="#2f4858", arrowsize=0.8];
"""

DOT = (
    DOT_HEAD
    + f"""\
  "{HUB.id}" [label="hub\\na1b10001"];
  "{SPOKE_AP.id}" [label="spoke-ap\\na1b10004"];
  "{SPOKE_EU.id}" [label="spoke-eu\\na1b10002"];
  "{SPOKE_US.id}" [label="spoke-us\\na1b10003"];
  "{HUB.id}" -> "{SPOKE_AP.id}" [label="logs", color="#2f4858", fontcolor="#2f4858"];
  "{HUB.id}" -> "{SPOKE_EU.id}" [label="logs, metrics", color="#2f4858", fontcolor="#2f4858"];
  "{SPOKE_US.id}" -> "{HUB.id}" [label="audit", color="#2f4858", fontcolor="#2f4858"];
}}
"""
)


def test_mermaid_and_dot_of_a_seeded_account(emulator: EmulatorControl) -> None:
    seed(emulator)
    mermaid = run("graph", url=emulator.url)
    assert mermaid.code == 0, mermaid
    assert mermaid.out == MERMAID
    assert mermaid.err == "drew 4 org(s), 3 connection(s)\n"
    dot = run("graph", "--format", "dot", url=emulator.url)
    assert dot.code == 0 and dot.out == DOT, dot
    # Only reads.
    assert {r["method"] for r in emulator.requests()} == {"GET"}


def test_files_by_extension_and_json(emulator: EmulatorControl, tmp_path: Path) -> None:
    seed(emulator)
    files = [tmp_path / "a.mmd", tmp_path / "a.md", tmp_path / "a.dot"]
    result = run("graph", *(a for f in files for a in ("-o", str(f))), "--json", url=emulator.url)
    assert result.code == 0, result
    assert files[0].read_text() == MERMAID
    assert files[1].read_text() == f"```mermaid\n{MERMAID}```\n"
    assert files[2].read_text() == DOT
    assert f"wrote {files[0]}, {files[1]}, {files[2]}" in result.err
    doc = json.loads(result.out)
    assert [o["name"] for o in doc["orgs"]] == ["hub", "spoke-ap", "spoke-eu", "spoke-us"]
    assert [(c["id"][-1], c["status"], c["connection_types"], c["at_risk"]) for c in doc["connections"]] == [
        ("3", "ok", ["logs"], False), ("1", "ok", ["logs", "metrics"], False), ("2", "ok", ["audit"], False),
    ]  # fmt: skip
    unknown = run("graph", "-o", str(tmp_path / "a.png"), url=emulator.url)
    assert unknown.code == 2 and "pass --format" in unknown.err, unknown


def test_each_org_sees_only_its_own_connections(emulator: EmulatorControl) -> None:
    """spoke-eu's keys do not see hub -> spoke-ap: the picture is of what the keys see."""
    seed(emulator)
    doc = json.loads(run("graph", "--json", url=emulator.url, org=SPOKE_EU).out)
    assert [c["id"][-1] for c in doc["connections"]] == ["1"]
    env = {"DD_API_KEY_AP": SPOKE_AP.api_key, "DD_APP_KEY_AP": SPOKE_AP.app_key}
    both = json.loads(run("graph", "--json", "--org", "ap", url=emulator.url, org=SPOKE_EU, env=env).out)
    assert sorted(c["id"][-1] for c in both["connections"]) == ["1", "3"]


@pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz `dot` is not installed (apt-get install graphviz)"
)
def test_svg_rendered_by_graphviz(emulator: EmulatorControl, tmp_path: Path) -> None:
    seed(emulator)
    out = tmp_path / "a.svg"
    result = run("graph", "-o", str(out), url=emulator.url)
    assert result.code == 0, result
    svg = html.unescape(out.read_text())  # Graphviz writes "-" as &#45;
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    for text in ("hub", "spoke-eu", "a1b10003", "logs, metrics", "audit"):
        assert f">{text}<" in svg, text


def test_svg_without_graphviz_says_so(emulator: EmulatorControl, tmp_path: Path) -> None:
    seed(emulator)
    out = tmp_path / "a.svg"
    path = os.path.dirname(sys.executable)  # the venv only: no `dot` there
    result = run("graph", "-o", str(out), url=emulator.url, env={"PATH": path})
    assert result.code == 3, result
    line = one_error_line_of(result)
    assert "Graphviz is not installed (no `dot` on PATH)" in line and "--format mermaid or dot" in line
    assert not out.exists() and emulator.requests() == []  # checked before anything else


def test_api_text_cannot_break_out_of_labels() -> None:
    weird = 'ev"il]\n|x<b>#1;'
    graph = Graph(
        {HUB.id: weird, SPOKE_EU.id: "spoke-eu"}, (Edge("1", HUB.id, SPOKE_EU.id, ("logs",), "ok"),), False
    )
    mermaid = to_mermaid(graph)
    assert '["ev#34;il#93;#63;#124;x#60;b#62;#35;1#59;<br/>a1b10001"]' in mermaid
    assert "\n" not in mermaid.split("]")[0].split("[", 1)[1]
    assert '[label="ev\\"il]?|x<b>#1;\\na1b10001"]' in to_dot(graph)


# ------------------------------------------------------------------------------------- drift

PROGRAM = """
import json
import pulumi
from datadog_org_connections import OrgConnection

for c in json.loads(pulumi.Config().require("connections")):
    OrgConnection(c["name"], sink_org_id=c["sink"], connection_types=c["types"])
"""


@pytest.fixture
def stack_export(tmp_path: Path, emulator: EmulatorControl) -> tuple[Path, PulumiCLI, Path]:
    """spoke-eu's stack (to-hub: logs, to-us: metrics) deployed with the real CLI, and its export."""
    if find_pulumi() is None:
        pytest.skip("no pulumi CLI: run scripts/install-pulumi")
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: drawn\nruntime: python\n")
    (project / "__main__.py").write_text(textwrap.dedent(PROGRAM))
    cli = PulumiCLI(tmp_path / "pulumi")
    cli.stack_init("eu", project)
    for key, value in SPOKE_EU.config(emulator.url).items():
        cli.config_set("eu", project, key, value, secret=key != "datadog:apiUrl")
    conns = [{"name": "to-hub", "sink": HUB.id, "types": ["logs"]},
             {"name": "to-us", "sink": SPOKE_US.id, "types": ["metrics"]}]  # fmt: skip
    cli.config_set("eu", project, "connections", json.dumps(conns))
    cli.run("up", "--yes", "--skip-preview", "--stack", "eu", cwd=project)
    path = tmp_path / "eu.json"
    path.write_text(json.dumps(cli.export("eu", project)))
    return path, cli, project


def _ids(path: Path) -> dict[str, Any]:
    resources = json.loads(path.read_text())["deployment"]["resources"]
    return {r["urn"].split("::")[-1]: r["id"] for r in resources if r["type"].endswith(":OrgConnection")}


def test_drift_is_drawn_with_a_legend(
    stack_export: tuple[Path, PulumiCLI, Path], emulator: EmulatorControl
) -> None:
    export, cli, project = stack_export
    ids = _ids(export)
    emulator.delete(ids["to-us"])  # missing: dashed
    emulator.patch(ids["to-hub"], ["logs", "metrics"])  # types differ
    emulator.create(SPOKE_EU.name, SPOKE_AP.id, ["audit"])  # extra: warning colour
    # The stack's keys and the hand-made connection are spoke-eu's admin's: a person (at risk).

    dot = run("graph", str(export), "--format", "dot", url=emulator.url, org=SPOKE_EU)
    assert dot.code == 0, dot
    edges = [line for line in dot.out.splitlines() if line.startswith('  "') and " -> " in line]
    assert edges == [
        f'  "{SPOKE_EU.id}" -> "{HUB.id}" [label="logs, metrics (declared: logs) (at risk: made by a person)", '
        'color="#8e44ad", fontcolor="#8e44ad", penwidth=2];',
        f'  "{SPOKE_EU.id}" -> "{SPOKE_AP.id}" [label="audit (not declared) (at risk: made by a person)", '
        'color="#e67e22", fontcolor="#e67e22", penwidth=2];',
        f'  "{SPOKE_EU.id}" -> "{SPOKE_US.id}" [label="metrics (missing)", color="#c0392b", '
        'fontcolor="#c0392b", style=dashed, penwidth=2];',
    ]
    assert "  { rank=sink; legend; }" in dot.out and "<b>Legend</b>" in dot.out
    legend = re.findall(r'<td align="left"><font color="#\w+">([^<&]+)(?:&#160;)*</font></td></tr>', dot.out)
    assert legend == [  # the kinds drawn
        "in the API, not declared (orphan)", "declared, not in the API (missing)",
        "types differ (label: API, then declared)",
    ]  # fmt: skip
    assert "drift: 1 extra, 1 missing, 1 changed (details: dd-org-connections reconcile)" in dot.err

    mermaid = run("graph", str(export), url=emulator.url, org=SPOKE_EU).out
    e, hub, ap, us = (f"org_{x}" for x in (EU, H, AP, US))
    assert f'  {e} -->|"logs, metrics (declared: logs) (at risk: made by a person)"| {hub}' in mermaid
    assert f'  {e} -->|"audit (not declared) (at risk: made by a person)"| {ap}' in mermaid
    assert f'  {e} -.->|"metrics (missing)"| {us}' in mermaid
    assert "  linkStyle 1 stroke:#e67e22,color:#e67e22,stroke-width:2px\n" in mermaid
    assert "  linkStyle 2 stroke:#c0392b,color:#c0392b,stroke-width:2px,stroke-dasharray:6 4\n" in mermaid
    assert '  subgraph legend_box["Legend"]' in mermaid and "declared, not in the API (missing)" in mermaid

    # The stack's own keys, piped from `pulumi config --show-secrets --json`: the same picture.
    config = cli.run("config", "--show-secrets", "--json", "--stack", "eu", cwd=project).stdout
    same = run(
        "graph",
        str(export),
        "--format",
        "dot",
        "--stack-config",
        "-",
        url=emulator.url,
        org=None,
        input=config,
    )
    assert same.code == 0 and same.out == dot.out, same


def test_exports_alone_draw_what_the_stacks_declare(
    stack_export: tuple[Path, PulumiCLI, Path], emulator: EmulatorControl
) -> None:
    export, _, _ = stack_export
    emulator.clear_requests()
    result = run("graph", str(export), "--format", "dot", org=None)
    assert result.code == 0, result
    assert (
        result.out
        == DOT_HEAD
        + f"""\
  "{HUB.id}" [label="hub\\na1b10001"];
  "{SPOKE_EU.id}" [label="spoke-eu\\na1b10002"];
  "{SPOKE_US.id}" [label="spoke-us\\na1b10003"];
  "{SPOKE_EU.id}" -> "{HUB.id}" [label="logs", color="#2f4858", fontcolor="#2f4858"];
  "{SPOKE_EU.id}" -> "{SPOKE_US.id}" [label="metrics", color="#2f4858", fontcolor="#2f4858"];
}}
"""
    )
    assert emulator.requests() == []  # no keys: the API is not asked

"""The real Pulumi CLI, as built by scripts/install-pulumi, runs a Python program end to end.

A throwaway program with one trivial dynamic resource goes through preview, up, refresh and
destroy on a local file backend; nothing but loopback is used.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from support.pulumi_cli import PulumiCLI, find_pulumi

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        find_pulumi() is None, reason="no pulumi CLI: run scripts/install-pulumi (scripts/test does)"
    ),
]

ROOT = Path(__file__).resolve().parents[2]
PINNED = (ROOT / "tools/pulumi/VERSION").read_text().strip()

PROGRAM = """
import pulumi
from pulumi.dynamic import CreateResult, ReadResult, Resource, ResourceProvider, UpdateResult

class Echo(ResourceProvider):
    def create(self, props):
        return CreateResult("echo-1", {"value": props["value"]})
    def read(self, id, props):
        return ReadResult(id, props)
    def update(self, id, olds, news):
        return UpdateResult({"value": news["value"]})

class Thing(Resource):
    def __init__(self, name, value):
        super().__init__(Echo(), name, {"value": value})

value = pulumi.Config().require("value")
thing = Thing("thing", value)
pulumi.export("value", thing.value)
"""


def test_pulumi_version_is_the_pinned_one(tmp_path: Path) -> None:
    proc = PulumiCLI(tmp_path).run("version", cwd=tmp_path)
    assert proc.stdout.strip() == f"v{PINNED}"


def test_dynamic_resource_lifecycle(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: smoke\nruntime: python\n")
    (project / "__main__.py").write_text(textwrap.dedent(PROGRAM))
    cli = PulumiCLI(tmp_path / "pulumi")
    cli.stack_init("dev", project)
    cli.config_set("dev", project, "value", "one")

    preview = cli.run("preview", "--stack", "dev", cwd=project)
    assert "+ 2 to create" in preview.stdout
    cli.run("up", "--yes", "--stack", "dev", cwd=project)
    assert cli.outputs("dev", project) == {"value": "one"}

    cli.config_set("dev", project, "value", "two")
    up = cli.run("up", "--yes", "--stack", "dev", cwd=project)
    assert "~ 1 updated" in up.stdout
    assert cli.outputs("dev", project) == {"value": "two"}

    refresh = cli.run("refresh", "--yes", "--stack", "dev", cwd=project)
    assert "2 unchanged" in refresh.stdout

    cli.run("destroy", "--yes", "--stack", "dev", cwd=project)
    state = cli.export("dev", project)
    assert not [r for r in state["deployment"].get("resources") or [] if r["type"] != "pulumi:pulumi:Stack"]


def test_program_error_is_reported_once(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: broken\nruntime: python\n")
    (project / "__main__.py").write_text("raise ValueError('boom from the program')\n")
    cli = PulumiCLI(tmp_path / "pulumi")
    cli.stack_init("dev", project)
    proc = cli.run("preview", "--stack", "dev", cwd=project, check=False)
    assert proc.returncode != 0
    assert "boom from the program" in proc.stdout + proc.stderr
    # The traceback shown is the user's, not the language host's machinery.
    assert "__main__.py" in proc.stdout
    assert "runpy" not in proc.stdout + proc.stderr
    assert "pulumi_language_python" not in proc.stdout + proc.stderr

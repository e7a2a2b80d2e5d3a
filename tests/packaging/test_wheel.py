"""The package as a user installs it: a wheel in a fresh virtualenv outside the checkout, with the real CLI.

The wheel is built from a copy of the sources, by the README's command (conftest.py). Each case creates a virtualenv in a temporary
directory, installs only that wheel and its dependencies from PyPI, with the Pulumi SDK at one end of
the declared range (the floor in pyproject.toml, and the newest 3.x release on PyPI), and runs a
sample program with our CLI build: its Pulumi.yaml names that virtualenv (the `virtualenv` runtime
option), which runs both the program and the dynamic provider. The program creates a connection with
`OrgConnectionArgs` and reads another with `OrgConnection.get`, against the emulator, and keeps a
value changed outside Pulumi through `up --refresh` with `ignore_changes` (read() returning inputs,
the reason for the SDK floor).

Marked `packaging` (skipped unless DDOC_PACKAGING_TESTS=1; .ci/run sets it): it needs PyPI and takes
a minute or two per SDK.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from support.emulator_control import EmulatorControl
from support.pulumi_cli import find_pulumi
from support.pulumi_program import ProgramProject
from support.seed import ALL_KEYS, HUB, SPOKE_EU, SPOKE_US

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.packaging,
    pytest.mark.slow,
    pytest.mark.e2e,
    pytest.mark.skipif(
        find_pulumi() is None, reason="no pulumi CLI: run scripts/install-pulumi (scripts/test does)"
    ),
]

PROGRAM = """
import importlib.metadata
import os

import pulumi

import datadog_org_connections
from datadog_org_connections import OrgConnection, OrgConnectionArgs

config = pulumi.Config()
to_hub = OrgConnection(
    "to-hub",
    OrgConnectionArgs(sink_org_id=config.require("hubOrgId"), connection_types=["metrics", "logs"]),
    # Kept through a refresh only if read() can return inputs (the SDK floor's reason).
    pulumi.ResourceOptions(ignore_changes=["connection_types"]),
)
existing = OrgConnection.get("existing", config.require("existingId"))
pulumi.export("id", to_hub.id)
pulumi.export("types", to_hub.connection_types)
pulumi.export("existing", pulumi.Output.all(existing.source_org_id, existing.sink_org_id))
pulumi.export("sdk", importlib.metadata.version("pulumi"))
pulumi.export("package_dir", os.path.dirname(datadog_org_connections.__file__))
"""


def _run(*cmd: str | Path, timeout: float = 900) -> str:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def declared_sdk_floor() -> str:
    """The oldest Pulumi SDK pyproject.toml accepts (the `pulumi>=X,<4` requirement)."""
    # `pulumi` itself, not pulumi-policy (an optional extra) or any other pulumi-* package.
    specs = re.findall(r'^\s*"(pulumi\s*[<>=~!][^"]*)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert len(specs) == 1, specs
    match = re.fullmatch(r"pulumi>=([\d.]+),<4", specs[0].replace(" ", ""))
    assert match, f"pulumi requirement {specs[0]!r} is not the range pulumi>=X,<4"
    return match.group(1)


def newest_sdk(pip: Path) -> str:
    """The newest 3.x Pulumi SDK on PyPI (one `pip index versions pulumi`)."""
    out = _run(pip, "index", "versions", "pulumi", "--disable-pip-version-check")
    versions = re.search(r"Available versions: (.*)", out)
    assert versions, out
    threes = [v for v in versions.group(1).split(", ") if re.fullmatch(r"3\.\d+\.\d+", v)]
    return max(threes, key=lambda v: tuple(int(p) for p in v.split(".")))


@pytest.mark.parametrize("sdk", ["oldest", "newest"])
def test_the_wheel_in_a_fresh_virtualenv_runs_a_program(
    wheel: Path, tmp_path: Path, emulator: EmulatorControl, sdk: str
) -> None:
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    pip = venv / "bin" / "pip"
    version = declared_sdk_floor() if sdk == "oldest" else newest_sdk(pip)
    _run(pip, "install", "-q", "--disable-pip-version-check", wheel, f"pulumi=={version}")

    existing = emulator.create(SPOKE_EU.id, SPOKE_US.id, ["audit"])  # made by hand, read by get
    project = ProgramProject(tmp_path, "wheel-sample", virtualenv=venv)
    project.write_program(PROGRAM)
    project.init(SPOKE_EU, emulator.url, {"hubOrgId": HUB.id, "existingId": existing["id"]})
    emulator.clear_requests()

    preview = project.pulumi("preview").stdout
    assert "+  pulumi-python:dynamic/datadog:OrgConnection to-hub create" in preview
    assert "read pulumi-python:dynamic/datadog:OrgConnection existing" in preview
    assert emulator.mutating_requests() == []
    project.up()
    outs = project.outputs()
    assert outs["sdk"] == version
    assert Path(outs["package_dir"]).is_relative_to(venv)  # the wheel's copy, not the checkout's
    assert outs["types"] == ["logs", "metrics"]
    assert outs["existing"] == [SPOKE_EU.id, SPOKE_US.id]
    assert emulator.pairs() == sorted(
        [(SPOKE_EU.id, HUB.id, ("logs", "metrics")), (SPOKE_EU.id, SPOKE_US.id, ("audit",))]
    )

    # ignore_changes keeps a value changed outside Pulumi through `up --refresh`: no PATCH.
    emulator.patch(outs["id"], ["audit", "logs", "metrics"])
    emulator.clear_requests()
    project.pulumi("up", "--yes", "--skip-preview", "--refresh")
    assert emulator.mutating_requests() == []
    assert project.outputs()["types"] == ["audit", "logs", "metrics"]
    emulator.clear_requests()
    project.pulumi("destroy", "--yes")
    assert [(r["method"], r["path"]) for r in emulator.mutating_requests()] == [
        ("DELETE", f"/api/v2/org_connections/{outs['id']}")
    ]
    assert [c["id"] for c in emulator.connections()] == [existing["id"]]
    assert not [k for k in ALL_KEYS if k in project.output]

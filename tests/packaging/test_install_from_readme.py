"""The README's "Install into your own Pulumi project", followed literally in a fresh directory.

The files (Pulumi.yaml, `__main__.py`, requirements.txt) and the commands are the README's blocks
marked `<!-- readme-test: ... -->`, run as written in a new directory outside the checkout: a fresh
virtualenv, the wheel built by the README's own command (conftest.py) in `./wheels/`, the Pulumi SDK
from PyPI, `pulumi login` to a file backend, `stack init`, the config keys (API and application keys as
secrets), `pulumi preview` and `pulumi up` with the real CLI against the emulator (the README's
`datadog:site` line sets `datadog:apiUrl` to the emulator instead: support/doc_blocks.py). The git-URL
requirement line is installed too, from this repository's own history at HEAD.

Marked `packaging` (skipped unless DDOC_PACKAGING_TESTS=1; .ci/run sets it): it needs PyPI.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.doc_blocks import REPO_ROOT, doc_block, fill, site_to_api_url
from support.emulator_control import EmulatorControl
from support.pulumi_cli import PulumiCLI, find_pulumi
from support.seed import ALL_KEYS, HUB, SPOKE_EU

pytestmark = [
    pytest.mark.packaging,
    pytest.mark.slow,
    pytest.mark.e2e,
    pytest.mark.skipif(
        find_pulumi() is None, reason="no pulumi CLI: run scripts/install-pulumi (scripts/test does)"
    ),
]

PASSPHRASE = "the user's own passphrase"
GITHUB_URL = "https://github.com/<owner>/<repo>"  # the README's placeholder for this repository


def _requirements(marker: str) -> list[str]:
    """The requirement lines of the README's requirements.txt block `marker`."""
    return [s for s in (line.split("#")[0].strip() for line in doc_block(marker).splitlines()) if s]


def test_the_readme_steps_make_a_connection_from_a_fresh_project(
    wheel: Path, tmp_path: Path, emulator: EmulatorControl
) -> None:
    project = tmp_path / "my-infra"
    (project / "wheels").mkdir(parents=True)
    (project / "Pulumi.yaml").write_text(doc_block("pulumi-yaml"))
    (project / "__main__.py").write_text(doc_block("program"))
    requirements = _requirements("wheel-requirements")
    (ours,) = [r for r in requirements if "datadog_org_connections" in r]
    assert Path(ours).name == wheel.name, f"the README names {ours}, the build made {wheel.name}"
    shutil.copy(wheel, project / ours)
    (project / "requirements.txt").write_text("\n".join(requirements) + "\n")

    backend = tmp_path / "state"
    backend.mkdir()
    steps = fill(
        doc_block("first-stack"),
        {
            "<backend URL>": f"file://{backend}",
            "<API key of the source org>": SPOKE_EU.api_key,
            "<application key of the source org>": SPOKE_EU.app_key,
            "<UUID of the sink org>": HUB.id,
        },
    )
    cli = PulumiCLI(tmp_path / "pulumi", extra_env={"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE})
    env = {k: v for k, v in cli.env.items() if k != "PULUMI_BACKEND_URL"}  # the block logs in itself
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", site_to_api_url(steps, emulator.url)],
        cwd=project, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"the README steps failed\n{output}"

    assert "+  pulumi-python:dynamic/datadog:OrgConnection to-hub create" in output  # the preview
    assert emulator.pairs() == [(SPOKE_EU.id, HUB.id, ("logs", "metrics"))]
    env["PULUMI_BACKEND_URL"] = f"file://{backend}"  # the backend the steps logged in to
    outputs = json.loads(cli.run("stack", "output", "--json", cwd=project, env=env).stdout)
    assert outputs["connection_id"] == emulator.connections()[0]["id"]
    # The program ran with the wheel installed in the project's own virtualenv, not the checkout.
    where = subprocess.run(
        [str(project / "venv/bin/python"), "-c", "import datadog_org_connections as d; print(d.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert Path(where).is_relative_to(project / "venv"), where
    config = (project / "Pulumi.spoke-eu.yaml").read_text()
    assert config.count("secure: v1:") == 2 and not [k for k in ALL_KEYS if k in config + output]

    cli.run("destroy", "--yes", cwd=project, env=env)
    assert emulator.connections() == []


def test_the_readme_git_requirement_installs_the_pinned_commit(tmp_path: Path) -> None:
    """The git-URL line, with this repository (its committed HEAD) standing in for the public URL."""
    (ours,) = [r for r in _requirements("git-requirements") if r.startswith("datadog-org-connections")]
    assert GITHUB_URL in ours, f"the README's git line changed: {ours}"
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    requirement = fill(ours.replace(GITHUB_URL, f"file://{REPO_ROOT}"), {"<tag>": head})
    target = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
         "--target", str(target), requirement],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    committed = subprocess.run(
        ["git", "show", f"{head}:provider/datadog_org_connections/resource.py"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert (target / "datadog_org_connections" / "resource.py").read_text() == committed
    (info,) = target.glob("datadog_org_connections-*.dist-info")
    version = re.search(r'^version = "([^"]+)"', (REPO_ROOT / "pyproject.toml").read_text(), re.M)
    assert version is not None and info.name == f"datadog_org_connections-{version.group(1)}.dist-info"
    assert (target / "bin" / "dd-org-connections").exists()

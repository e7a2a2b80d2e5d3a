"""The sample stacks' "Against a real Datadog account" steps (docs/samples.md), run as written with the real CLI.

The test takes the shell block marked `<!-- readme-test: real-account ... -->` in docs/samples.md and
runs it with bash from a copy of the project (Pulumi.yaml, the demo's committed Pulumi.demo-*.yaml,
programs/), against the session's emulator on loopback standing in for Datadog, with a passphrase
other than the demo's. Only the block's `<placeholders>` and its `datadog:site` line are substituted
(support/doc_blocks.py): the test knows every placeholder, so a new or renamed one fails it and the
documentation and the test move together.

The rest runs verbatim. The environment stands in for the user at a terminal: the passphrase comes
from PULUMI_CONFIG_PASSPHRASE (what `stack init` would prompt for) and PULUMI_SKIP_CONFIRMATIONS
answers `pulumi up`'s "Do you want to perform this update?" with yes. There is no PULUMI_BACKEND_URL:
the block's own `pulumi login` chooses the backend. A failing command, a missing `stack init` or a
missing config key fails the test.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from support.doc_blocks import doc_block, fill, site_to_api_url
from support.emulator_control import EmulatorControl
from support.pulumi_cli import PulumiCLI, find_pulumi
from support.pulumi_program import copy_sample_project
from support.seed import ALL_KEYS, HUB, SPOKE_EU, SPOKE_EU_READER_APP_KEY

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        find_pulumi() is None, reason="no pulumi CLI: run scripts/install-pulumi (scripts/test does)"
    ),
]

ROOT = Path(__file__).resolve().parents[2]
DOC = "docs/samples.md"
USER_PASSPHRASE = "a user's own passphrase, not the demo's"
DEMO_PASSPHRASE = "demo-passphrase"


class UserRepo:
    """A copy of the project files a user has after cloning, and the CLI environment of that user."""

    def __init__(self, tmp: Path) -> None:
        self.dir = copy_sample_project(tmp / "repo")
        self.backend = tmp / "state"
        self.backend.mkdir()
        self.cli = PulumiCLI(tmp / "pulumi", extra_env={"PULUMI_CONFIG_PASSPHRASE": USER_PASSPHRASE})
        self.env = {k: v for k, v in self.cli.env.items() if k != "PULUMI_BACKEND_URL"}

    def bash(self, script: str) -> subprocess.CompletedProcess[str]:
        """Run `script` as the user would paste it, stopping at the first failing command."""
        return subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], cwd=self.dir, env=self.env,
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900,
        )  # fmt: skip

    def pulumi(self, *args: str, passphrase: str = USER_PASSPHRASE, check: bool = True) -> str:
        """`pulumi ARGS` in the user's repository, on the backend the steps logged in to."""
        env = self.env | {"PULUMI_CONFIG_PASSPHRASE": passphrase}
        proc = subprocess.run(
            ["pulumi", *args, "--non-interactive"], cwd=self.dir, env=env,
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if check:
            assert proc.returncode == 0, f"pulumi {' '.join(args)}\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout + proc.stderr


@pytest.fixture
def user(tmp_path: Path, emulator: EmulatorControl) -> UserRepo:
    """The documented block, run to the end as a new user would, in a fresh copy of the project."""
    repo = UserRepo(tmp_path)
    placeholders = {
        "<backend URL>": f"file://{repo.backend}",
        "<UUID of the hub org>": HUB.id,
        "<API key of the spoke-eu org>": SPOKE_EU.api_key,
        "<application key of a spoke-eu service account>": SPOKE_EU.app_key,
    }
    script = site_to_api_url(fill(doc_block("real-account", DOC), placeholders), emulator.url)
    proc = repo.bash(script)
    assert proc.returncode == 0, (
        f"the steps of {DOC} failed\n--- script\n{script}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    )
    return repo


def test_readme_steps_create_the_users_own_stacks_and_the_connection(
    user: UserRepo, emulator: EmulatorControl
) -> None:
    assert emulator.pairs() == [(SPOKE_EU.id, HUB.id, ("logs", "metrics"))]
    outputs = json.loads(user.pulumi("stack", "output", "--stack", "spoke-eu", "--json"))
    assert outputs["connection_id"] == emulator.connections()[0]["id"]
    assert outputs["sink_org"] == "hub" and outputs["source_org"] == "spoke-eu"

    # Every required key is set, the keys as secrets, in the user's own stack files.
    config = json.loads(user.pulumi("config", "--stack", "spoke-eu", "--json"))
    assert config["datadog-orgs:role"]["value"] == "spoke"
    assert config["datadog-orgs:hubStack"]["value"] == "organization/datadog-orgs/hub"
    assert json.loads(config["datadog-orgs:connectionTypes"]["value"]) == ["logs", "metrics"]
    assert config["datadog:apiKey"]["secret"] and config["datadog:appKey"]["secret"]
    hub_config = json.loads(user.pulumi("config", "--stack", "hub", "--json"))
    assert {k: v["value"] for k, v in hub_config.items()} == {
        "datadog-orgs:role": "hub",
        "datadog-orgs:orgId": HUB.id,
        "datadog-orgs:enableDatadogResources": "false",  # the project's default (Pulumi.yaml)
    }

    # The stack files are new ones, under the user's passphrase, with the keys encrypted.
    demo_salts = {
        re.search(r"^encryptionsalt: (\S+)$", p.read_text(), re.MULTILINE).group(1)  # type: ignore[union-attr]
        for p in ROOT.glob("**/Pulumi.demo-*.yaml")
    }
    for stack in ("hub", "spoke-eu"):
        text = (user.dir / f"Pulumi.{stack}.yaml").read_text()
        salt = re.search(r"^encryptionsalt: (\S+)$", text, re.MULTILINE)
        assert salt is not None and salt.group(1) not in demo_salts
        assert not any(key in text for key in ALL_KEYS), f"a key in clear in Pulumi.{stack}.yaml"
    assert (user.dir / "Pulumi.spoke-eu.yaml").read_text().count("secure: v1:") == 2

    # The demo's files are untouched, and the published passphrase opens none of the user's secrets.
    for path in ROOT.glob("Pulumi.demo-*.yaml"):
        assert (user.dir / path.name).read_bytes() == path.read_bytes()
    failed = user.pulumi(
        "config", "get", "--stack", "spoke-eu", "datadog:appKey", passphrase=DEMO_PASSPHRASE, check=False
    )
    assert SPOKE_EU.app_key not in failed and "incorrect passphrase" in failed.lower()


def test_a_read_only_key_is_enough_for_preview_and_refresh(user: UserRepo, emulator: EmulatorControl) -> None:
    """docs/configuration.md: `org_connections_read` suffices for `pulumi preview` and `refresh`; a preview with
    no change sends one request, who the keys are (the preflight), and warns of nothing but a person's keys."""
    user.pulumi("config", "set", "--stack", "spoke-eu", "--secret", "datadog:appKey", SPOKE_EU_READER_APP_KEY)
    emulator.clear_requests()
    preview = user.pulumi("preview", "--stack", "spoke-eu", "--expect-no-changes")
    assert [(r["method"], r["path"], r["status"]) for r in emulator.requests()] == [
        ("GET", "/api/v2/current_user", 200)
    ]
    assert "would be refused" not in preview
    # --run-program: refresh with the keys in config, not those recorded by the last `pulumi up`.
    refresh = ("refresh", "--stack", "spoke-eu", "--yes", "--run-program", "--expect-no-changes")
    user.pulumi(*refresh)
    calls = {(r["method"], r["path"], r["status"]) for r in emulator.requests()}
    assert calls == {("GET", "/api/v2/current_user", 200), ("GET", "/api/v2/org_connections", 200)}, calls
    # reads only, all allowed
    # The same refresh with a key Datadog refuses fails: the key in config is the one used.
    user.pulumi("config", "set", "--stack", "spoke-eu", "--secret", "datadog:appKey", "0" * 40)
    assert "403" in user.pulumi(*refresh, check=False)

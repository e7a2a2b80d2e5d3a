"""Where the API and application keys are stored, checked on a real deployment (docs/configuration.md).

Keys set in stack config are in exactly two places, both encrypted: the stack file
(`Pulumi.<stack>.yaml`, `secure:`) and the inputs (and outputs) of the default dynamic provider
`pulumi:providers:pulumi-python::default` in the state, where Pulumi records every provider's
config. They are never in an `OrgConnection`'s inputs or outputs, in `__provider`, in the CLI's
output or logs, in error messages or in the URLs the API receives. Keys given by environment
variables are stored nowhere. Each test deploys the demo's spoke stack with the real CLI against the
emulator and searches `pulumi stack export` (with and without `--show-secrets`) and every file the
CLI wrote: the backend, PULUMI_HOME (its logs included) and the project.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.emulator_control import EmulatorControl
from support.pulumi_cli import PulumiCLI, find_pulumi
from support.pulumi_program import copy_sample_project
from support.seed import ALL_KEYS, HUB, SPOKE_EU

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        find_pulumi() is None, reason="no pulumi CLI: run scripts/install-pulumi (scripts/test does)"
    ),
]

SECRET_SIG = (
    "4dabf18193072939515e22adb298388d",
    "1b47061264138c4ac30d75fd1eb44270",
)  # Pulumi's secret marker
DEFAULT_PROVIDER = "pulumi:providers:pulumi-python"
VERBOSE = ("-v=9", "--logtostderr", "--logflow")
KEY_NAMES = ("datadog:apiKey", "datadog:appKey")


class Deployment:
    """The demo project (hub and spoke-eu) on a fresh backend, with everything the CLI printed."""

    def __init__(self, tmp: Path, url: str) -> None:
        self.dir = copy_sample_project(tmp / "repo")
        self.cli = PulumiCLI(tmp / "pulumi", extra_env={"PULUMI_CONFIG_PASSPHRASE": "demo-passphrase"})
        self.output = ""
        for stack in ("demo-hub", "demo-spoke-eu"):
            self.cli.stack_init(stack, self.dir)
            self.cli.config_set(stack, self.dir, "datadog:apiUrl", url)
        self.pulumi("up", "--yes", "--skip-preview", stack="demo-hub")

    def pulumi(self, *args: str, stack: str, check: bool = True, env: dict[str, str] | None = None) -> str:
        proc = self.cli.run(*args, "--stack", stack, cwd=self.dir, check=check, env=env)
        self.output += proc.stdout + proc.stderr
        return proc.stdout + proc.stderr

    def export(self, stack: str, show_secrets: bool = False) -> dict[str, Any]:
        args = ("stack", "export", "--stack", stack, *(["--show-secrets"] if show_secrets else []))
        return json.loads(self.cli.run(*args, cwd=self.dir).stdout)  # type: ignore[no-any-return]

    def files_holding(self, secret: str) -> list[Path]:
        """Every file the CLI wrote or uses (backend, PULUMI_HOME, project) holding `secret` in clear."""
        needle = secret.encode()
        roots = (self.cli.backend, self.cli.home, self.dir)
        return [p for root in roots for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.fixture
def deployment(tmp_path: Path, emulator: EmulatorControl) -> Deployment:
    return Deployment(tmp_path, emulator.url)


def _paths_holding(node: Any, needle: str, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The paths of the JSON values (or keys) under `node` whose text contains `needle`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if needle in key:
                yield (*path, key)
            yield from _paths_holding(value, needle, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            label = value.get("urn", str(index)) if isinstance(value, dict) else str(index)
            yield from _paths_holding(value, needle, (*path, label))
    elif isinstance(node, str) and needle in node:
        yield path


def _resources(export: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in export["deployment"]["resources"] if r["type"] == type_]


def test_keys_are_encrypted_in_the_default_provider_and_nowhere_else(
    deployment: Deployment, emulator: EmulatorControl
) -> None:
    deployment.pulumi("up", "--yes", "--skip-preview", *VERBOSE, stack="demo-spoke-eu")
    deployment.pulumi("refresh", "--yes", *VERBOSE, stack="demo-spoke-eu")
    assert len(emulator.connections()) == 1

    # Without --show-secrets: the default provider holds both keys as ciphertext, the export no key.
    export = deployment.export("demo-spoke-eu")
    (provider,) = _resources(export, DEFAULT_PROVIDER)
    assert provider["urn"].endswith(f"::{DEFAULT_PROVIDER}::default")
    for section in ("inputs", "outputs"):
        for name in KEY_NAMES:
            value = provider[section][name]
            assert value[SECRET_SIG[0]] == SECRET_SIG[1] and value["ciphertext"].startswith("v1:")
            assert "plaintext" not in value
    text = json.dumps(export)
    assert not [key for key in ALL_KEYS if key in text], "a key in clear in the state"

    # Decrypted, the keys appear in the default provider's inputs and outputs only.
    decrypted = deployment.export("demo-spoke-eu", show_secrets=True)
    provider_urn = provider["urn"]
    for key, name in ((SPOKE_EU.api_key, "datadog:apiKey"), (SPOKE_EU.app_key, "datadog:appKey")):
        places = sorted(_paths_holding(decrypted["deployment"]["resources"], key))
        assert places == [
            (provider_urn, "inputs", name, "plaintext"),
            (provider_urn, "outputs", name, "plaintext"),
        ]

    # The connection's inputs and outputs, and its serialized provider, hold no key.
    (conn,) = _resources(decrypted, "pulumi-python:dynamic/datadog:OrgConnection")
    pickled = base64.b64decode(conn["inputs"]["__provider"])
    assert len(pickled) < 100 and not [k for k in ALL_KEYS if k.encode() in pickled]
    assert conn["outputs"]["__provider"] == conn["inputs"]["__provider"]

    # Nor any file on disk (stack file: `secure:` only), the CLI's verbose output, or a URL.
    for key in ALL_KEYS:
        assert deployment.files_holding(key) == [], f"a key in clear on disk: {deployment.files_holding(key)}"
        assert key not in deployment.output, "a key in the CLI's output or logs"
    assert (deployment.dir / "Pulumi.demo-spoke-eu.yaml").read_text().count("secure: v1:") == 2
    logged = json.dumps(emulator.requests())
    assert "/api/v2/org_connections" in logged
    assert not [key for key in ALL_KEYS if key in logged], "a key in a URL"


def test_an_error_carries_no_key(deployment: Deployment, emulator: EmulatorControl) -> None:
    wrong_app_key = "e" * 8 + "0123456789abcdef" * 2  # a key Datadog refuses (403)
    deployment.cli.config_set("demo-spoke-eu", deployment.dir, "datadog:appKey", wrong_app_key, secret=True)
    failed = deployment.pulumi("up", "--yes", "--skip-preview", *VERBOSE, stack="demo-spoke-eu", check=False)
    # current_user and the list refuse the key: the preflight stops the update before any POST.
    assert "answered 403" in failed and "authenticate as nobody" in failed
    assert [r["status"] for r in emulator.requests() if r["method"] == "POST"] == []
    for key in (wrong_app_key, *ALL_KEYS):
        assert key not in failed, "a key in the error"
        assert deployment.files_holding(key) == []
    assert emulator.connections() == []


def test_keys_from_the_environment_are_stored_nowhere(
    deployment: Deployment, emulator: EmulatorControl
) -> None:
    for name in KEY_NAMES:
        deployment.cli.run("config", "rm", "--stack", "demo-spoke-eu", name, cwd=deployment.dir)
    env = {"DD_API_KEY": SPOKE_EU.api_key, "DD_APP_KEY": SPOKE_EU.app_key}
    deployment.pulumi("up", "--yes", "--skip-preview", stack="demo-spoke-eu", env=env)
    assert emulator.pairs() == [(SPOKE_EU.id, HUB.id, ("logs", "metrics"))]

    decrypted = deployment.export("demo-spoke-eu", show_secrets=True)
    (provider,) = _resources(decrypted, DEFAULT_PROVIDER)
    assert not set(KEY_NAMES) & set(provider["inputs"])
    text = json.dumps(decrypted)
    assert not [key for key in ALL_KEYS if key in text], "a key from the environment reached the state"
    for key in ALL_KEYS:
        assert deployment.files_holding(key) == []

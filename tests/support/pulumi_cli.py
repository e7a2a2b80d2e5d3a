"""Driving the real `pulumi` CLI from tests: an isolated home, a local file backend (or another
backend URL, e.g. a throwaway PostgreSQL's: tests/support/postgres.py), no network."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PASSPHRASE = "test-passphrase-not-a-secret"


# scripts/install-pulumi puts pulumi and its plugins in the virtualenv's bin directory.
VENV_BIN = os.path.dirname(sys.executable)


def find_pulumi() -> str | None:
    """The `pulumi` binary installed by scripts/install-pulumi (or else on PATH)."""
    return shutil.which("pulumi", path=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")


@dataclass
class PulumiCLI:
    """One isolated Pulumi installation state (one CI runner): PULUMI_HOME under `root`, and the
    state in a file:// backend under `root`, or in `backend_url` when given (``postgres://...``:
    several `PulumiCLI`s with their own `root` and the same `backend_url` are runners sharing one
    backend)."""

    root: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    backend_url: str | None = None

    def __post_init__(self) -> None:
        self.home = self.root / "home"
        self.backend = self.root / "backend"  # the file backend's directory (unused with backend_url)
        self.home.mkdir(parents=True, exist_ok=True)
        if self.backend_url is None:
            self.backend.mkdir(parents=True, exist_ok=True)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "DD_", "DATADOG_"))}
        env.update(
            PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            PULUMI_HOME=str(self.home),
            PULUMI_BACKEND_URL=self.backend_url or f"file://{self.backend}",
            PULUMI_CONFIG_PASSPHRASE=PASSPHRASE,
            PULUMI_SKIP_UPDATE_CHECK="true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
            PULUMI_SKIP_CONFIRMATIONS="true",
            NO_COLOR="1",
        )
        env.update(self.extra_env)
        return env

    def run(
        self,
        *args: str,
        cwd: Path,
        check: bool = True,
        env: dict[str, str] | None = None,
        timeout: float = 600,
    ) -> subprocess.CompletedProcess[str]:
        """Run `pulumi ARGS` in `cwd`; with check, fail the test showing the whole output."""
        full_env = self.env | (env or {})
        proc = subprocess.run(
            ["pulumi", *args, "--non-interactive"] if args[0] not in ("version",) else ["pulumi", *args],
            cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(
                f"pulumi {' '.join(args)} exited {proc.returncode}\n"
                f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
            )
        return proc

    def stack_init(self, stack: str, cwd: Path) -> None:
        """Create (or select) `stack` in the project at `cwd`."""
        proc = self.run("stack", "select", "--create", stack, cwd=cwd, check=False)
        if proc.returncode != 0:
            raise AssertionError(proc.stdout + proc.stderr)

    def config_set(self, stack: str, cwd: Path, key: str, value: str, secret: bool = False) -> None:
        """`pulumi config set [--secret] KEY VALUE` on `stack`."""
        self.run("config", "set", "--stack", stack, *(["--secret"] if secret else []), key, value, cwd=cwd)

    def outputs(self, stack: str, cwd: Path) -> dict[str, Any]:
        """The stack outputs (secrets shown) as a dict."""
        proc = self.run("stack", "output", "--stack", stack, "--json", "--show-secrets", cwd=cwd)
        return json.loads(proc.stdout or "{}")  # type: ignore[no-any-return]

    def export(self, stack: str, cwd: Path, show_secrets: bool = False) -> dict[str, Any]:
        """`pulumi stack export` (secrets stay encrypted, unless `show_secrets`) as a dict."""
        proc = self.run(
            "stack", "export", "--stack", stack, *(["--show-secrets"] if show_secrets else []), cwd=cwd
        )
        return json.loads(proc.stdout)  # type: ignore[no-any-return]

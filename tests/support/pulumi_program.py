"""A throwaway Pulumi project (Pulumi.yaml + __main__.py) run by the real CLI against the emulator."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

from support.pulumi_cli import PulumiCLI
from support.seed import Org

REPO_ROOT = Path(__file__).resolve().parents[2]


def copy_sample_project(dest: Path) -> Path:
    """Copy what a user has after cloning (the root `Pulumi*.yaml` and `programs/`) into `dest`."""
    dest.mkdir()
    for path in REPO_ROOT.glob("Pulumi*.yaml"):
        shutil.copy(path, dest / path.name)
    shutil.copytree(REPO_ROOT / "programs", dest / "programs", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


class ProgramProject:
    """One project directory, one stack, and a `PulumiCLI` with its own home and file backend.

    `virtualenv`: the Pulumi.yaml `virtualenv` runtime option (the interpreter that runs the program
    and the dynamic provider); without it, the interpreter of our language host (the test venv).
    `backend_url`: keep the state there instead of a file backend under `root` (`PulumiCLI`).
    """

    def __init__(
        self, root: Path, name: str = "proj", virtualenv: Path | None = None, backend_url: str | None = None
    ) -> None:
        self.dir = root / name
        self.dir.mkdir(parents=True)
        runtime = "runtime: python\n"
        if virtualenv is not None:
            runtime = f"runtime:\n  name: python\n  options:\n    virtualenv: {virtualenv}\n"
        (self.dir / "Pulumi.yaml").write_text(f"name: {name}\n{runtime}")
        self.cli = PulumiCLI(root / "pulumi", backend_url=backend_url)
        self.stack = "dev"
        self.output = ""  # everything the CLI printed

    def write_program(self, source: str) -> None:
        """Replace the program (`__main__.py`)."""
        (self.dir / "__main__.py").write_text(textwrap.dedent(source))

    def init(
        self,
        org: Org,
        url: str,
        config: dict[str, str] | None = None,
        secrets: dict[str, str] | None = None,
        stack: str | None = None,
    ) -> None:
        """Create the stack (default: `self.stack`) with `org`'s keys (as secrets) and the emulator URL,
        plus `config` and `secrets` (`--path` keys), in one `pulumi config set-all`."""
        stack = stack or self.stack
        self.cli.stack_init(stack, self.dir)
        keys = {"datadog:apiKey": org.api_key, "datadog:appKey": org.app_key, **(secrets or {})}
        self.config_all({"datadog:apiUrl": url, **(config or {})}, keys, stack=stack)

    def config(self, key: str, value: str, secret: bool = False, path: bool = False) -> None:
        """`pulumi config set [--secret] [--path] KEY VALUE`."""
        flags = [*(["--secret"] if secret else []), *(["--path"] if path else [])]
        self.cli.run("config", "set", "--stack", self.stack, *flags, key, value, cwd=self.dir)

    def config_all(
        self, plain: dict[str, str], secrets: dict[str, str] | None = None, stack: str | None = None
    ) -> None:
        """`pulumi config set-all --path` of `plain` and `secrets` (encrypted) values: one command."""
        flags = [f for k, v in plain.items() for f in ("--plaintext", f"{k}={v}")]
        flags += [f for k, v in (secrets or {}).items() for f in ("--secret", f"{k}={v}")]
        self.cli.run("config", "set-all", "--path", "--stack", stack or self.stack, *flags, cwd=self.dir)

    def pulumi(
        self, *args: str, check: bool = True, stack: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`pulumi ARGS --stack <stack>` (default: `self.stack`); the output is also kept in `self.output`."""
        proc = self.cli.run(*args, "--stack", stack or self.stack, cwd=self.dir, check=check)
        self.output += proc.stdout + proc.stderr
        return proc

    def up(self, *args: str, stack: str | None = None) -> str:
        """`pulumi up --yes --skip-preview ARGS`; its output."""
        proc = self.pulumi("up", "--yes", "--skip-preview", *args, stack=stack)
        return proc.stdout + proc.stderr

    def outputs(self, stack: str | None = None) -> dict[str, Any]:
        """The stack outputs (secrets shown)."""
        return self.cli.outputs(stack or self.stack, self.dir)

    def export(self, stack: str | None = None, show_secrets: bool = False) -> dict[str, Any]:
        """`pulumi stack export` as a dict (secrets in clear with `show_secrets`)."""
        return self.cli.export(stack or self.stack, self.dir, show_secrets)

    def import_state(self, state: dict[str, Any]) -> None:
        """`pulumi stack import` of `state` (the shape `export` returns)."""
        path = self.dir.parent / "state.json"
        path.write_text(json.dumps(state))
        self.pulumi("stack", "import", "--file", str(path))

    def resources(self, stack: str | None = None) -> list[dict[str, Any]]:
        """The resources of the stack's state, the stack itself excluded."""
        return [
            r
            for r in self.export(stack)["deployment"].get("resources") or []
            if r["type"] != "pulumi:pulumi:Stack"
        ]

"""Interrupting the real `pulumi` CLI mid-deployment: a fan-out seed, a stack, its process tree.

`pulumi up` runs in a session of its own (``start_new_session=True``), as a job of a terminal does, so a
test can signal its process group the way Ctrl-C does (`os.killpg`). The engine starts each plugin
(language host, dynamic provider) in a process group of its own (Setpgid: see `cmdutil.RegisterProcessGroup`
in pulumi's sdk/go/common/util/cmdutil/child_unix.go), so the group holds the `pulumi` process alone;
`process_tree` finds every process of the run (children first found through /proc), to signal all of them
as a machine shutting down, systemd stopping a unit or a CI runner dying would.

The state is read two ways: `pulumi stack export` (what a user sees) and the file backend's checkpoint
file itself (`checkpoint`), which needs no CLI and works while the `pulumi` process is stopped.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import signal
import subprocess
import textwrap
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from support.pulumi_cli import PulumiCLI
from support.seed import account_seed, api_key, app_key

T = TypeVar("T")

CONNECTION_TYPE = "pulumi-python:dynamic/datadog:OrgConnection"

PROGRAM = """
import json
import pulumi
from datadog_org_connections import OrgConnection

for i, sink in enumerate(json.loads(pulumi.Config().require("sinks"))):
    OrgConnection(f"c{i:02d}", sink_org_id=sink, connection_types=["logs"])
"""


def fan_out_seed(sinks: int) -> dict[str, Any]:
    """One account: org `source` (index 0, the parent) and orgs `sink-00`.. `sink-NN`; ids are left to
    the emulator (it derives them from the names)."""
    return account_seed(["source", *(f"sink-{i:02d}" for i in range(sinks))], account="fan")


SOURCE_API_KEY, SOURCE_APP_KEY = api_key(0), app_key(0)


class Missed(Exception):
    """The signal landed at a moment that does not make the scenario: retry with a fresh stack."""


def wait_until(check: Callable[[], T], what: str, timeout: float = 120.0, poll: float = 0.02) -> T:
    """Poll `check` until it returns something truthy; `Missed` naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Missed(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


# --- processes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    """One process, identified by pid and start time (a pid alone may be reused once it is gone)."""

    pid: int
    started: int
    cmdline: str

    @staticmethod
    def read(pid: int) -> Proc | None:
        """The process `pid` as /proc shows it now (None: gone)."""
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return None
        return Proc(pid, int(stat.rsplit(")", 1)[1].split()[19]), cmdline.strip())

    def alive(self) -> bool:
        """Whether this very process still runs (a zombie does not)."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return False
        fields = stat.rsplit(")", 1)[1].split()
        return fields[0] != "Z" and int(fields[19]) == self.started

    def signal(self, sig: signal.Signals) -> None:
        """Send `sig` if this very process still runs."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    @property
    def label(self) -> str:
        """A short name: the program's file name (the script's, for an interpreter running one)."""
        words = self.cmdline.split()
        if words and Path(words[0]).name.startswith("python"):
            words = words[1:]
            while words and words[0].startswith("-"):
                if words[0] == "-m" and len(words) > 1:
                    return words[1]
                words = words[1:]
        return Path(words[0]).name if words else "?"

    @property
    def pgid(self) -> int:
        return os.getpgid(self.pid)


def process_tree(root: int) -> list[Proc]:
    """`root` and its descendants (breadth first), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found: list[Proc] = []
    pending = [root]
    while pending:
        pid = pending.pop(0)
        proc = Proc.read(pid)
        if proc is not None:
            found.append(proc)
            pending.extend(children.get(pid, []))
    return found


def signal_all(procs: Iterable[Proc], sig: signal.Signals) -> None:
    """Send `sig` to each process, in order."""
    for proc in procs:
        proc.signal(sig)


# --- the stack ----------------------------------------------------------------------------------


class FanOutStack:
    """A stack of project `fan` declaring connections from `source` to the sinks `sink_ids`.

    Stacks made with the same `root` share the project, the Pulumi home, the backend and the provider's
    journal, which lives in `journal_dir` (``DDOC_JOURNAL_DIR``) so that the test can read it.
    `backend_url` (e.g. a ``postgres://`` one) keeps the state there instead of a file backend under
    `root`; `on_another_runner` is then the same stack seen from another CI runner.
    """

    def __init__(
        self, root: Path, url: str, sink_ids: list[str], stack: str = "dev", backend_url: str | None = None
    ) -> None:
        self.name = stack
        self.dir = root / "fan"
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "Pulumi.yaml").write_text("name: fan\nruntime: python\n")
        (self.dir / "__main__.py").write_text(textwrap.dedent(PROGRAM))
        self._runner(root, backend_url)
        self.cli.stack_init(stack, self.dir)
        self.cli.run(
            "config", "set-all", "--stack", stack,
            "--plaintext", f"datadog:apiUrl={url}",
            "--secret", f"datadog:apiKey={SOURCE_API_KEY}",
            "--secret", f"datadog:appKey={SOURCE_APP_KEY}",
            "--plaintext", f"sinks={json.dumps(sink_ids)}",
            cwd=self.dir,
        )  # fmt: skip
        self.sink_ids = sink_ids

    def _runner(self, root: Path, backend_url: str | None) -> None:
        """What is the runner's own: its Pulumi home, journal, logs and processes."""
        self.journal_dir = root / "journal"
        self.cli = PulumiCLI(
            root / "pulumi", extra_env={"DDOC_JOURNAL_DIR": str(self.journal_dir)}, backend_url=backend_url
        )
        self.log = root / f"up-{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.seen: dict[tuple[int, int], Proc] = {}  # every process of the run, to clean up

    def on_another_runner(self, root: Path) -> FanOutStack:
        """This stack from another CI runner: a copy of the project directory (what its `git clone`
        holds, `Pulumi.<stack>.yaml` included), a Pulumi home and journal of its own, the same backend."""
        other = copy.copy(self)
        other.dir = root / "fan"
        shutil.copytree(self.dir, other.dir, ignore=shutil.ignore_patterns("__pycache__"))
        other._runner(root, self.cli.backend_url)
        return other

    # running

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`pulumi ARGS --stack dev`, waited for."""
        return self.cli.run(*args, "--stack", self.name, cwd=self.dir, check=check)

    def start_up(self) -> subprocess.Popen[bytes]:
        """Start `pulumi up` in a new session (its own process group); its output goes to `self.log`."""
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                ["pulumi", "up", "--yes", "--skip-preview", "--stack", self.name, "--non-interactive"],
                cwd=self.dir, env=self.cli.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        return self.proc

    def tree(self) -> list[Proc]:
        """The running `pulumi up` and its descendants (remembered for `cleanup`)."""
        assert self.proc is not None
        procs = process_tree(self.proc.pid)
        self.seen.update({(p.pid, p.started): p for p in procs})
        return procs

    def provider(self) -> Proc | None:
        """The dynamic provider process of the running `pulumi up`, once started: the one process of the
        run that is neither `pulumi` nor the language host (which also runs the program)."""
        return next((p for p in self.tree() if p.label not in ("pulumi", "pulumi-language-python")), None)

    def wait(self, timeout: float = 300.0) -> int:
        """Wait for `pulumi up` to end; its exit status."""
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def output(self) -> str:
        """What `pulumi up` printed so far."""
        return self.log.read_text(errors="replace")

    def cleanup(self) -> list[str]:
        """SIGKILL whatever of the run is still alive; returns their command lines (should be none)."""
        if self.proc is not None and self.proc.poll() is None:
            self.tree()
        left = [p for p in self.seen.values() if p.alive()]
        signal_all(left, signal.SIGKILL)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.wait(timeout=30)
        return [p.cmdline for p in left]

    # the state

    def export(self) -> dict[str, Any]:
        """`pulumi stack export`'s deployment."""
        return self.cli.export(self.name, self.dir)["deployment"]  # type: ignore[no-any-return]

    def connections(self, deployment: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The OrgConnection resources of a deployment (default: exported now)."""
        deployment = self.export() if deployment is None else deployment
        return [r for r in deployment.get("resources") or [] if r["type"] == CONNECTION_TYPE]

    def state_ids(self, deployment: dict[str, Any] | None = None) -> list[str]:
        """Ids of the connections in the state (a list: a doubled id would show)."""
        return [r["id"] for r in self.connections(deployment)]

    def checkpoint_file(self) -> Path:
        return self.cli.backend / ".pulumi" / "stacks" / "fan" / f"{self.name}.json"

    def checkpoint_ids(self) -> set[str]:
        """Connection ids in the backend's checkpoint file, read directly (no CLI, no lock)."""
        try:
            latest = json.loads(self.checkpoint_file().read_text())["checkpoint"].get("latest") or {}
        except (OSError, ValueError, KeyError):
            return set()
        return {r["id"] for r in latest.get("resources") or [] if r["type"] == CONNECTION_TYPE}

    def torn_attrs(self) -> list[Path]:
        """Empty `.attrs` sidecar files of the file backend (a SIGKILL between their truncation and write)."""
        return [p for p in self.cli.backend.rglob("*.attrs") if p.stat().st_size == 0]

    def lock_files(self) -> list[Path]:
        """The backend's stack lock files (left behind by a killed update)."""
        locks = self.cli.backend / ".pulumi" / "locks"
        return [p for p in locks.rglob("*.json")] if locks.exists() else []

    def journal(self) -> list[dict[str, Any]]:
        """The provider's journal entries (conn_id, pending, updated)."""
        if not self.journal_dir.exists():
            return []
        entries = []
        for path in self.journal_dir.glob("*.json"):
            try:
                entries.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
        return entries

    def journal_ids(self) -> set[str]:
        """Connections the journal remembers as made by an answered create."""
        return {e["conn_id"] for e in self.journal() if e.get("conn_id")}

"""Plumbing of the benchmark sections, on top of the tests' harness (tests/support): a generated
seed, the emulator as a subprocess, and Pulumi projects driven through the real `pulumi` CLI.

Nothing here asserts on timings: it runs things, times them and hands back numbers.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT / "tests"))  # the one development harness: tests/support

from support.emulator_control import EmulatorControl, subprocess_emulator  # noqa: E402
from support.pulumi_cli import VENV_BIN  # noqa: E402
from support.pulumi_program import ProgramProject  # noqa: E402
from support.seed import Org, write_seed  # noqa: E402

PROGRAM = BENCH_DIR / "program" / "__main__.py"

__all__ = [
    "BENCH_DIR",
    "VENV_BIN",
    "Account",
    "BenchProject",
    "Run",
    "account",
    "connections_spec",
    "log",
    "median",
    "spread",
    "summarize_requests",
    "workdir",
]


def log(message: str) -> None:
    """Progress, on stderr (stdout carries the results)."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def median(values: Iterable[float]) -> float:
    """The median of ``values``."""
    return statistics.median(list(values))


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, min, max and the quartiles of ``values`` (the IQR needs 4 or more)."""
    ordered = sorted(values)
    quartiles = statistics.quantiles(ordered, n=4) if len(ordered) >= 4 else [ordered[0], 0.0, ordered[-1]]
    return {
        "median": round(statistics.median(ordered), 4),
        "min": round(ordered[0], 4),
        "max": round(ordered[-1], 4),
        "q1": round(quartiles[0], 4),
        "q3": round(quartiles[2], 4),
    }


# --------------------------------------------------------------------------------------------
# The emulator and its orgs


@dataclass
class Account:
    """A running emulator (a subprocess) and the orgs of its generated seed, parent first."""

    control: EmulatorControl
    orgs: list[Org]

    @property
    def url(self) -> str:
        return self.control.url

    @property
    def source(self) -> Org:
        """The org whose keys the single-org stacks use."""
        return self.orgs[0]

    @property
    def sinks(self) -> list[Org]:
        return self.orgs[1:]


EMULATOR_PYTHONPATH = os.environ.get("DDOC_BENCH_EMULATOR_PYTHONPATH") or None
"""Where the emulator subprocess imports its code from, if not from this checkout: another
checkout's `provider/` (for example an older emulator, to compare emulator versions)."""


@contextmanager
def account(workdir: Path, names: Sequence[str]) -> Iterator[Account]:
    """A seed of one account with orgs ``names`` (the first is the parent), served by an emulator
    subprocess (its own GIL) with its stderr in ``workdir/emulator.log``."""
    orgs = write_seed(workdir / "seed.json", names)
    log_path = workdir / "emulator.log"
    with subprocess_emulator(workdir / "seed.json", log_path, EMULATOR_PYTHONPATH) as control:
        yield Account(control, orgs)


def summarize_requests(entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Counts by `METHOD path-kind` (ids folded), by status, the 429s, the API phase and the most
    requests in flight at once."""
    by_kind: dict[str, int] = {}
    statuses: dict[str, int] = {}
    for e in entries:
        path = e["path"]
        if path.startswith("/api/v2/org_connections/"):
            path = "/api/v2/org_connections/{id}"
        key = f"{e['method']} {path}"
        by_kind[key] = by_kind.get(key, 0) + 1
        statuses[str(e["status"])] = statuses.get(str(e["status"]), 0) + 1
    inflight = peak = 0
    events = sorted(
        [(e["time"], 1) for e in entries] + [(e["time"] + e["duration_ms"] / 1000.0, -1) for e in entries]
    )
    for _, step in events:
        inflight += step
        peak = max(peak, inflight)
    span = (events[-1][0] - events[0][0]) if events else 0.0
    return {
        "total": len(entries),
        "api_span_seconds": round(span, 3),
        "emulator_busy_ms": round(sum(e["duration_ms"] for e in entries), 1),
        "max_in_flight": peak,
        "by_kind": dict(sorted(by_kind.items())),
        "statuses": dict(sorted(statuses.items())),
        "throttled": statuses.get("429", 0),
    }


# --------------------------------------------------------------------------------------------
# Pulumi


@dataclass
class Run:
    """One CLI invocation: its wall time and output."""

    args: tuple[str, ...]
    seconds: float
    returncode: int
    stdout: str
    output: str


class BenchProject:
    """A throwaway project running benchmarks/program (it declares what spec.json says), with one
    stack per scenario (`stack`); every command is timed. `benchmarks/` is on PYTHONPATH for the
    program and the provider process (the no-op provider lives there)."""

    def __init__(self, root: Path, name: str = "ddoc-bench") -> None:
        self.project = ProgramProject(root, name)
        self.dir = self.project.dir
        self.cli = self.project.cli
        self.cli.extra_env["PYTHONPATH"] = str(BENCH_DIR)
        shutil.copy(PROGRAM, self.dir / "__main__.py")
        self.runs: list[Run] = []

    @property
    def stack(self) -> str:
        return self.project.stack

    @stack.setter
    def stack(self, name: str) -> None:
        self.project.stack = name

    def run(self, *args: str, check: bool = True) -> Run:
        """`pulumi ARGS --stack STACK`, timed; with check, raise on failure with the output's tail."""
        started = time.perf_counter()
        proc = self.cli.run(*args, "--stack", self.stack, cwd=self.dir, check=False, timeout=3600)
        seconds = time.perf_counter() - started
        run = Run(tuple(args), seconds, proc.returncode, proc.stdout, proc.stdout + proc.stderr)
        self.runs.append(run)
        if check and proc.returncode != 0:
            raise RuntimeError(f"pulumi {' '.join(args)} exited {proc.returncode}:\n{run.output[-4000:]}")
        return run

    def new_stack(self, name: str, org: Org, url: str, config: dict[str, str] | None = None) -> None:
        """Create stack `name` with `org`'s keys (secrets), the emulator URL and `config`; select it."""
        self.stack = name
        self.cli.stack_init(name, self.dir)
        flags = ["--secret", f"datadog:apiKey={org.api_key}", "--secret", f"datadog:appKey={org.app_key}"]
        flags += ["--plaintext", f"datadog:apiUrl={url}"]
        for key, value in (config or {}).items():
            flags += ["--secret", f"{key}={value}"]
        self.run("config", "set-all", *flags)

    def spec(self, mode: str, **what: Any) -> None:
        """What the program declares: `mode` ours|noop, and `connections=[...]` or `topology={...}`."""
        (self.dir / "spec.json").write_text(json.dumps({"mode": mode, **what}))

    def up(self, *, preview: bool = True) -> Run:
        return self.run("up", "--yes", *([] if preview else ["--skip-preview"]))

    def preview(self) -> Run:
        return self.run("preview")

    def refresh(self) -> Run:
        return self.run("refresh", "--yes", "--skip-preview")

    def destroy(self, *, preview: bool = True) -> Run:
        return self.run("destroy", "--yes", *([] if preview else ["--skip-preview"]))

    def export(self) -> dict[str, Any]:
        """`pulumi stack export` of the current stack."""
        return self.project.export()

    def state_file(self) -> Path:
        """The checkpoint file of the current stack in the file backend."""
        return next((self.cli.backend / ".pulumi" / "stacks").rglob(f"{self.stack}.json"))


def connections_spec(
    sinks: Sequence[Org], types: Sequence[str] = ("logs",), prefix: str = "conn"
) -> list[dict[str, Any]]:
    """One connection from the stack's org to each of `sinks`, named `prefix-NNNN`."""
    return [{"name": f"{prefix}-{i:04d}", "sink": s.id, "types": list(types)} for i, s in enumerate(sinks)]


@contextmanager
def workdir(keep: bool = False) -> Iterator[Path]:
    """A temporary directory, removed at the end unless `keep`."""
    path = Path(tempfile.mkdtemp(prefix="ddoc-bench-"))
    try:
        yield path
    finally:
        if keep:
            log(f"kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)

"""Timed `pulumi` commands with their API requests, run ours and no-op interleaved.

Ratios that hold still come from pairs measured side by side: each repeat runs ours and the no-op
provider back to back (alternating which goes first, so a drift in the machine's load falls on
both), and the ratio is taken per repeat (ours_i / no-op_i); its median and spread over the repeats
are what the tables report.
"""

from __future__ import annotations

import resource
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness import Account, BenchProject, Run, log, spread, summarize_requests
from procstat import ProviderWatch

Cycle = dict[str, dict[str, Any]]
"""One pass over some commands: command name -> its figures."""


def command(emu: Account, action: Callable[[], Run], *, watch: Path | None = None) -> dict[str, Any]:
    """Run one command with an empty request log: its wall time and the requests it made; with
    `watch` (a PULUMI_HOME), the peak RSS of the provider processes it started."""
    emu.control.clear_requests()
    cpu0 = _children_cpu()
    if watch is None:
        run = action()
        peak = None
    else:
        with ProviderWatch(watch) as w:
            run = action()
        peak = w.peak_mib
    cpu = _children_cpu() - cpu0
    summary = summarize_requests(emu.control.requests())
    return {
        "seconds": round(run.seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "requests": summary["total"],
        "by_kind": summary["by_kind"],
        "throttled": summary["throttled"],
        "emulator_busy_ms": summary["emulator_busy_ms"],
        "api_span_seconds": summary["api_span_seconds"],
        "max_in_flight": summary["max_in_flight"],
        "provider_peak_rss_mib": peak,
    }


def _children_cpu() -> float:
    """User + system CPU time of the finished child processes: a `pulumi` command, once waited for,
    with its engine, language host and provider processes (not the emulator, which runs on)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cycle(
    emu: Account,
    project: BenchProject,
    stack: str,
    actions: Mapping[str, Callable[[], Run]],
    *,
    watch: bool = False,
) -> Cycle:
    """Each of `actions` in order on `stack`, measured by :func:`command`."""
    project.stack = stack
    home = project.cli.home if watch else None
    return {op: command(emu, action, watch=home) for op, action in actions.items()}


def lifecycle_actions(project: BenchProject) -> dict[str, Callable[[], Run]]:
    """up (creating everything), preview (unchanged), refresh, destroy; all but preview --skip-preview."""
    return {
        "up": lambda: project.up(preview=False),
        "preview": project.preview,
        "refresh": project.refresh,
        "destroy": lambda: project.destroy(preview=False),
    }


def interleaved(
    repeats: int, runners: Mapping[str, Callable[[], Cycle]], label: str = ""
) -> dict[str, list[Cycle]]:
    """`repeats` rounds of every runner (mode -> one cycle), the order reversed every other round."""
    samples: dict[str, list[Cycle]] = {mode: [] for mode in runners}
    modes = list(runners)
    for rep in range(repeats):
        order = modes if rep % 2 == 0 else modes[::-1]
        for mode in order:
            samples[mode].append(runners[mode]())
            ops = samples[mode][-1]
            log(
                f"  {label}round {rep + 1}/{repeats} {mode:4s} "
                + "  ".join(f"{op} {v['seconds']:.2f}s/{v['requests']}req" for op, v in ops.items())
            )
    return samples


def ratios(ours: Sequence[Cycle], floor: Sequence[Cycle], op: str, what: str = "seconds") -> dict[str, float]:
    """Median, min, max and quartiles of the per-repeat ratio ours_i / floor_i of command `op`'s
    wall time (`what="cpu_seconds"`: CPU time of the command's processes)."""
    return spread([o[op][what] / f[op][what] for o, f in zip(ours, floor, strict=True)])


def seconds_of(cycles: Sequence[Cycle], op: str) -> dict[str, float]:
    """Median, min, max and quartiles of command `op`'s wall time."""
    return spread([c[op]["seconds"] for c in cycles])


def fmt_spread(s: Mapping[str, float], unit: str = "x") -> str:
    """`median (min-max)`, e.g. `1.04x (1.01-1.09)`."""
    return f"{s['median']:.2f}{unit} ({s['min']:.2f}-{s['max']:.2f})"

"""Process figures from /proc (Linux): CPU time of a process, and the peak RSS of the dynamic
provider processes a `pulumi` command starts (`tools/pulumi/pulumi_dynamic_host.py`, which runs
the SDK's `python -m pulumi.dynamic`; either command line counts).

The provider processes are children of the engine and live only as long as the command, so a
thread polls /proc while the command runs and keeps each one's `VmHWM` (its peak resident set, a
high-water mark the kernel keeps). Only processes whose environment holds our `PULUMI_HOME` count,
so provider processes of anything else running on the machine are left out.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType

CLK_TCK = os.sysconf("SC_CLK_TCK")

PROVIDER_COMMANDS = (b"pulumi_dynamic_host", b"pulumi.dynamic")
"""What a dynamic provider process's command line holds: our launcher's host, or the SDK's module."""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (10 ms ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def _peak_rss_kib(pid: int) -> int:
    for line in _read(f"/proc/{pid}/status").splitlines():
        if line.startswith(b"VmHWM:"):
            return int(line.split()[1])
    return 0


class ProviderWatch:
    """While open, polls /proc every `interval` s for dynamic provider processes (PROVIDER_COMMANDS)
    started with ``PULUMI_HOME=home``; `peaks` maps each one's pid to its peak RSS in KiB."""

    def __init__(self, home: Path, interval: float = 0.1) -> None:
        self._marker = b"PULUMI_HOME=" + str(home).encode()
        self._interval = interval
        self._stop = threading.Event()
        self._ours: dict[int, tuple[bytes, bool]] = {}
        self.peaks: dict[int, int] = {}
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _is_ours(self, pid: int) -> bool:
        cmdline = _read(f"/proc/{pid}/cmdline")
        seen = self._ours.get(pid)
        if seen is None or seen[0] != cmdline:  # new, or it has exec'd since (the launcher script)
            provider = any(command in cmdline for command in PROVIDER_COMMANDS)
            environ = _read(f"/proc/{pid}/environ").split(b"\0") if provider else []
            seen = self._ours[pid] = (cmdline, self._marker in environ)
        return seen[1]

    def _poll(self) -> None:
        while True:
            for entry in os.listdir("/proc"):
                if entry.isdigit() and self._is_ours(int(entry)):
                    rss = _peak_rss_kib(int(entry))
                    self.peaks[int(entry)] = max(rss, self.peaks.get(int(entry), 0))
            if self._stop.wait(self._interval):
                return

    def __enter__(self) -> ProviderWatch:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mib(self) -> float:
        """The largest peak RSS of any provider process seen, in MiB (0 if none was seen)."""
        return round(max(self.peaks.values(), default=0) / 1024.0, 1)

"""Section `stored`: does what the emulator stores move the ratio? The `overhead` measurement (N
connections, ours vs no-op, interleaved) on an emulator holding only the stack's connections, and
on one holding 1,000 more made out of band: 500 that the stack's org takes part in (incoming, so
they share its lists but no pair of the stack) and 500 between other orgs.

The emulator once scanned every stored connection for each list request (a refresh lists once per
connection), so stored connections made a refresh slower; it now indexes connections by pair and
by org. This section is how that is checked: the two ratios should agree within their spread.
"""

from __future__ import annotations

import itertools
from typing import Any

from cycles import Cycle, cycle, interleaved, lifecycle_actions
from harness import Account, BenchProject, connections_spec, log
from overhead import ratio_table
from report import Table

EXTRA = 1000


def add_extras(emu: Account, extra: int) -> None:
    """`extra` out-of-band connections: half into the stack's org, half between two other orgs."""
    incoming = extra // 2
    others = extra - incoming
    sinks = emu.sinks
    if incoming > len(sinks) or others + 1 > len(sinks):
        raise RuntimeError(f"the seed has too few orgs for {extra} extra connections")
    for sink in sinks[:incoming]:
        emu.control.create(sink.id, emu.source.id, ["logs"])
    for a, b in itertools.pairwise(sinks[: others + 1]):
        emu.control.create(a.id, b.id, ["metrics"])


def run(emu: Account, project: BenchProject, *, n: int, repeats: int) -> tuple[dict[str, Any], list[Table]]:
    conns = connections_spec(emu.sinks[:n])
    for mode in ("ours", "noop"):
        project.new_stack(f"stored-{mode}", emu.source, emu.url)

    def runner(mode: str, extra: int) -> Cycle:
        emu.control.reset()
        if extra:
            add_extras(emu, extra)
        project.stack = f"stored-{mode}"
        project.spec(mode, connections=conns)
        return cycle(emu, project, project.stack, lifecycle_actions(project))

    log(f"  N={n}, {repeats} rounds of: ours and no-op alone, then with {EXTRA} stored connections")
    samples = interleaved(
        repeats,
        {
            "ours": lambda: runner("ours", 0),
            "noop": lambda: runner("noop", 0),
            "ours+": lambda: runner("ours", EXTRA),
            "noop+": lambda: runner("noop", EXTRA),
        },
    )
    emu.control.reset()
    alone, t1 = ratio_table(
        f"N={n}, the emulator holding only the stack's connections ({repeats} rounds)",
        {"ours": samples["ours"], "noop": samples["noop"]},
    )
    extra, t2 = ratio_table(
        f"N={n}, the emulator holding {EXTRA} more connections ({repeats} rounds, interleaved with the above)",
        {"ours": samples["ours+"], "noop": samples["noop+"]},
    )
    t2.notes.append(
        f"{EXTRA // 2} connections into the stack's org (sink-i -> source) and {EXTRA - EXTRA // 2} between "
        "other orgs, made with POST /_emulator/connections before each command cycle"
    )
    data = {
        "n": n,
        "repeats": repeats,
        "extra": EXTRA,
        "alone": alone,
        "with_extra": extra,
        "samples": samples,
    }
    return data, [t1, t2]

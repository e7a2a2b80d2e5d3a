"""``dd-org-connections graph``: a picture of who shares what with whom (Mermaid, DOT, SVG).

Nodes are orgs (name and the first 8 hex digits of the UUID), edges go from source to sink,
labelled with the shared types. Given stack exports and keys, the drift between them is drawn
with the rules of ``reconcile`` (:mod:`.findings`): missing edges dashed, extra edges in a
warning colour, with a legend. SVG is Graphviz's rendering of the DOT text. See ``docs/cli.md``.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import IO, Any

import click

from . import EXIT_API, EXIT_CONFIG, EXIT_INCOMPLETE, CliError, _emit_json, _settings, cli, write_file
from .findings import compare
from .reconcile import ReadOptions, load_actual, load_exports, refused_warnings, stack_options
from .sources import Actual, StackExport, org_names
from .views import at_risk, clean

__all__ = ["Edge", "Graph", "build_graph", "graph_command", "to_dot", "to_mermaid"]


@dataclass(frozen=True)
class Style:
    """How one kind of edge is drawn, and what the legend calls it."""

    legend: str
    color: str
    line: str  # solid, dashed, dotted
    suffix: str  # appended to the edge label


STYLES: dict[str, Style] = {
    "ok": Style("declared, and in the API", "#2f4858", "solid", ""),
    "extra": Style("in the API, not declared (orphan)", "#e67e22", "solid", " (not declared)"),
    "missing": Style("declared, not in the API (missing)", "#c0392b", "dashed", " (missing)"),
    "changed": Style("types differ (label: API, then declared)", "#8e44ad", "solid", ""),
    "unchecked": Style(
        "declared, not checked (no keys for either org)", "#7f8c8d", "dotted", " (not checked)"
    ),
    "outside": Style("in the API, from an org no given stack manages", "#95a5a6", "solid", ""),
}


@dataclass(frozen=True)
class Edge:
    """One connection, as drawn."""

    id: str
    source: str
    sink: str
    types: tuple[str, ...]
    status: str  # a key of STYLES
    declared_types: tuple[str, ...] | None = None
    at_risk: bool = False  # created by a person (views.at_risk)

    @property
    def label(self) -> str:
        """The edge's text: the types, what differs, and whether a person created it."""
        text = ", ".join(self.types)
        if self.status == "changed" and self.declared_types is not None:
            text = f"{text} (declared: {', '.join(self.declared_types)})"
        else:
            text += STYLES[self.status].suffix
        return text + (AT_RISK_LABEL if self.at_risk else "")


@dataclass(frozen=True)
class Graph:
    """Orgs (id -> name) and connections; ``drift``: both sides were given (draw the legend)."""

    nodes: dict[str, str]
    edges: tuple[Edge, ...]
    drift: bool

    def legend(self) -> list[tuple[str, Style]]:
        """The kinds of edge drawn, in the order of :data:`STYLES` (the legend's rows)."""
        drawn = {e.status for e in self.edges}
        return [(status, style) for status, style in STYLES.items() if status in drawn]


#: Appended to the label of a connection a person created (Datadog deletes it with their account).
AT_RISK_LABEL = " (at risk: made by a person)"


def build_graph(exports: Sequence[StackExport], actual: Actual | None) -> Graph:
    """The graph of the API (``actual``), of the stacks, or of both with the drift between them."""
    declared = [d for e in exports for d in e.declared if not d.pending_replacement]
    edges: dict[str, Edge] = {}
    if actual is None:
        for d in declared:
            edges.setdefault(d.id, Edge(d.id, d.source_org_id, d.sink_org_id, d.connection_types, "ok"))
    elif not exports:
        for i, c in actual.connections.items():
            edges[i] = Edge(i, c.source_org_id.lower(), c.sink_org_id.lower(), c.connection_types, "ok")
    else:
        found = compare(exports, actual)
        for status, conns in (("ok", [c for _, c in found.matched]), ("extra", found.orphans),
                              ("outside", found.outside)):  # fmt: skip
            for c in conns:
                edges.setdefault(
                    c.id.lower(), Edge(c.id.lower(), c.source_org_id.lower(), c.sink_org_id.lower(),
                                       c.connection_types, status)
                )  # fmt: skip
        for d, c in found.type_diffs:
            edges.setdefault(
                d.id,
                Edge(d.id, d.source_org_id, d.sink_org_id, c.connection_types, "changed", d.connection_types),
            )
        for status, ds in (("missing", found.ghosts), ("unchecked", found.unchecked)):
            for d in ds:
                edges.setdefault(d.id, Edge(d.id, d.source_org_id, d.sink_org_id, d.connection_types, status))
    if actual is not None:
        edges = {i: replace(e, at_risk=at_risk(actual.connections.get(i))) for i, e in edges.items()}
    names = org_names(declared, actual)
    ids = {e.source for e in edges.values()} | {e.sink for e in edges.values()}
    ids |= actual.covered if actual is not None else set()
    nodes = {i: names.get(i, "") for i in sorted(ids, key=lambda i: (names.get(i, "~"), i))}
    order = sorted(edges.values(), key=lambda e: (nodes[e.source], e.source, nodes[e.sink], e.sink, e.id))
    return Graph(nodes, tuple(order), bool(exports) and actual is not None)


def _short(org_id: str) -> str:
    return org_id.replace("-", "")[:8]


# ----------------------------------------------------------------------------------- Mermaid

_MERMAID_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _.,:()/@+-")


def _mm(text: str) -> str:
    """Text for a quoted Mermaid label: anything but plain characters as an entity code."""
    return "".join(c if c in _MERMAID_SAFE else f"#{ord(c)};" for c in clean(text))


def _mm_id(org_id: str) -> str:
    return "org_" + "".join(c for c in org_id.lower() if c.isalnum())


_MM_LINE = {"solid": "-->", "dashed": "-.->", "dotted": "-.->"}
_MM_DASH = {"solid": "", "dashed": ",stroke-dasharray:6 4", "dotted": ",stroke-dasharray:2 3"}


def _mm_style(style: Style) -> str:
    return f"stroke:{style.color},color:{style.color},stroke-width:2px{_MM_DASH[style.line]}"


def to_mermaid(graph: Graph) -> str:
    """Mermaid flowchart text (renders in GitHub Markdown inside a ```mermaid block)."""
    lines = [
        "flowchart LR",
        "  %% Org connections drawn by `dd-org-connections graph`: source --> sink, labelled with the shared types",
    ]
    lines += [f'  {_mm_id(i)}["{_mm(name or "org")}<br/>{_short(i)}"]' for i, name in graph.nodes.items()]
    styles: list[str] = []
    for n, edge in enumerate(graph.edges):
        style = STYLES[edge.status]
        lines.append(
            f'  {_mm_id(edge.source)} {_MM_LINE[style.line]}|"{_mm(edge.label)}"| {_mm_id(edge.sink)}'
        )
        styles.append(f"  linkStyle {n} {_mm_style(style)}")
    if graph.drift and graph.edges:
        lines += ['  subgraph legend_box["Legend"]', "    direction LR"]
        for n, (status, style) in enumerate(graph.legend(), start=len(graph.edges)):
            a, b = f"legend_{status}_a", f"legend_{status}_b"
            lines.append(
                f'    {a}[" "]:::legend {_MM_LINE[style.line]}|"{_mm(style.legend)}"| {b}[" "]:::legend'
            )
            styles.append(f"  linkStyle {n} {_mm_style(style)}")
        lines += ["  end", "  classDef legend fill:none,stroke:none"]
    return "\n".join(lines + styles) + "\n"


# ---------------------------------------------------------------------------------------- DOT


def _dq(*lines: str) -> str:
    """A DOT double-quoted string of ``lines`` (centred lines, API text cleaned and escaped)."""
    return '"' + "\\n".join(clean(t).replace("\\", "\\\\").replace('"', '\\"') for t in lines) + '"'


def _dot_attrs(style: Style, label: str) -> str:
    attrs = [f"label={_dq(label)}", f'color="{style.color}"', f'fontcolor="{style.color}"']
    if style.line != "solid":
        attrs.append(f"style={style.line}")
    if style.color != STYLES["ok"].color:
        attrs.append("penwidth=2")
    return ", ".join(attrs)


_GLYPHS = {
    "solid": "&#9472;&#9472;&#9472;&#9472;&#9654;",
    "dashed": "- - - &#9654;",
    "dotted": "&#183; &#183; &#183; &#9654;",
}


def _dot_legend(graph: Graph) -> list[str]:
    """A legend node: an HTML-like table, one row per kind of edge, in its colour and line."""
    rows = "".join(
        f'<tr><td align="left"><font color="{st.color}">{_GLYPHS[st.line]}</font></td>'
        f'<td align="left"><font color="{st.color}">{html.escape(st.legend)}&#160;&#160;</font></td></tr>'
        for _, st in graph.legend()
    )
    table = (
        '<table border="1" color="#bdc3c7" style="rounded" cellborder="0" cellspacing="0" cellpadding="4">'
        f'<tr><td colspan="2" align="left"><b>Legend</b></td></tr>{rows}</table>'
    )
    return [
        f'  legend [shape=none, style="", margin=0, fontsize=10, label=<{table}>];',
        "  { rank=sink; legend; }",
    ]


def to_dot(graph: Graph) -> str:
    """Graphviz DOT text (``dot -Tsvg`` renders it)."""
    ok = STYLES["ok"].color
    lines = [
        "// Org connections drawn by `dd-org-connections graph`: source -> sink, labelled with the shared types",
        "digraph org_connections {",
        '  graph [rankdir=LR, fontname="Helvetica", fontsize=11, nodesep=0.5, ranksep=1.0, pad=0.3];',
        f'  node [shape=box, style="rounded,filled", fillcolor="#f5f7fa", color="{ok}", '
        'fontname="Helvetica", fontsize=12, margin="0.2,0.1"];',
        f'  edge [fontname="Helvetica", fontsize=10, color="{ok}", fontcolor="{ok}", arrowsize=0.8];',
    ]
    for i, name in graph.nodes.items():
        lines.append(f"  {_dq(i)} [label={_dq(name or 'org', _short(i))}];")
    for edge in graph.edges:
        lines.append(
            f"  {_dq(edge.source)} -> {_dq(edge.sink)} [{_dot_attrs(STYLES[edge.status], edge.label)}];"
        )
    if graph.drift and graph.edges:
        lines += _dot_legend(graph)
    return "\n".join([*lines, "}"]) + "\n"


# ------------------------------------------------------------------------------------ output

#: File extension -> format.
EXTENSIONS = {
    ".mmd": "mermaid",
    ".mermaid": "mermaid",
    ".md": "markdown",
    ".dot": "dot",
    ".gv": "dot",
    ".svg": "svg",
}
DOT_MISSING = (
    "Graphviz is not installed (no `dot` on PATH), and SVG is its rendering: install it "
    "(apt-get install graphviz, brew install graphviz, ...) or use --format mermaid or dot"
)


def _format_of(path: str | None, fmt: str | None) -> str:
    if fmt is not None:
        return fmt
    if path is None:
        return "mermaid"
    ext = os.path.splitext(path)[1].lower()
    if ext not in EXTENSIONS:
        known = ", ".join(EXTENSIONS)
        raise click.UsageError(
            f"cannot tell the format of {path} from its extension ({known}): pass --format"
        )
    return EXTENSIONS[ext]


def render(graph: Graph, fmt: str) -> str:
    """The graph as ``mermaid``, ``markdown`` (Mermaid in a fenced block), ``dot`` or ``svg``."""
    if fmt == "mermaid":
        return to_mermaid(graph)
    if fmt == "markdown":
        return f"```mermaid\n{to_mermaid(graph)}```\n"
    if fmt == "dot":
        return to_dot(graph)
    return to_svg(to_dot(graph))


def to_svg(dot_text: str) -> str:
    """SVG rendered by Graphviz's ``dot`` (:class:`CliError` when it is missing or fails)."""
    exe = shutil.which("dot")
    if exe is None:
        raise CliError(DOT_MISSING, EXIT_CONFIG)
    try:
        proc = subprocess.run([exe, "-Tsvg"], input=dot_text, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CliError(f"Graphviz dot failed: {exc}", EXIT_API) from None
    if proc.returncode != 0:
        raise CliError(
            f"Graphviz dot failed (exit status {proc.returncode}): {proc.stderr.strip()}", EXIT_API
        )
    return proc.stdout


def graph_json(graph: Graph) -> dict[str, Any]:
    """The ``--json`` document: orgs, and connections with how they are drawn."""
    return {
        "orgs": [{"id": i, "name": name or None} for i, name in graph.nodes.items()],
        "connections": [
            {
                "id": e.id,
                "source_org_id": e.source,
                "sink_org_id": e.sink,
                "connection_types": list(e.types),
                "status": e.status,
                "declared_connection_types": list(e.declared_types) if e.declared_types is not None else None,
                "at_risk": e.at_risk,
            }
            for e in graph.edges
        ],
        "drift_drawn": graph.drift,
    }


def _summary(graph: Graph) -> str:
    text = f"{len(graph.nodes)} org(s), {len(graph.edges)} connection(s)"
    if graph.drift:
        counts = {
            s: sum(e.status == s for e in graph.edges) for s in ("extra", "missing", "changed", "unchecked")
        }
        drift = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        text += f"; drift: {drift} (details: dd-org-connections reconcile)" if drift else "; no drift"
    return text


@cli.command("graph")
@click.argument("exports", nargs=-1, type=click.File("r", encoding="utf-8"), metavar="[EXPORT]...")
@stack_options
@click.option(
    "--format", "fmt", type=click.Choice(["mermaid", "markdown", "dot", "svg"]),
    help="Output format [default: from each --output's extension, else mermaid].",
)  # fmt: skip
@click.option(
    "--output", "-o", "outputs", multiple=True, type=click.Path(dir_okay=False),
    help="Write to FILE (.mmd, .md, .dot, .gv, .svg) instead of stdout. Repeatable: one API read, several files.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the orgs and connections as JSON.")
@click.pass_context
def graph_command(
    ctx: click.Context,
    exports: tuple[IO[str], ...],
    orgs: tuple[str, ...],
    stack_config: IO[str] | None,
    parallel: int,
    progress: bool | None,
    fmt: str | None,
    outputs: tuple[str, ...],
    as_json: bool,
) -> None:
    """Draw org connections: Mermaid, DOT, or SVG (with Graphviz).

    Draws what the keys (environment, --org, --stack-config) see in the API, or what the stack
    exports EXPORT... (`pulumi stack export`, - for stdin) hold, or both: then the drift is drawn
    (missing edges dashed, extra edges in a warning colour, with a legend). Nodes are orgs (name
    and short id), edges go from source to sink, labelled with the shared types. Needs
    org_connections_read (and org_connections_write, or org_management, for the org names of
    GET /api/v2/org; without it the names come from the connections). The orgs are read several
    at once (--parallel); keys the API refuses are named on stderr and left out (exit status 7).
    """
    settings = _settings(ctx)
    formats: list[tuple[str | None, str]] = [(path, _format_of(path, fmt)) for path in outputs]
    if not outputs and not as_json:
        formats.append((None, fmt or "mermaid"))
    if any(f == "svg" for _, f in formats) and shutil.which("dot") is None:
        raise CliError(DOT_MISSING, EXIT_CONFIG)
    loaded = load_exports(exports)
    actual = load_actual(
        settings, orgs, stack_config, required=not loaded, reading=ReadOptions(parallel, progress)
    )
    for line in refused_warnings(actual) if actual is not None else []:
        click.echo(line, err=True)
    try:
        graph = build_graph(loaded, actual)
    finally:
        if actual is not None:
            actual.close()
    texts = [(path, render(graph, f)) for path, f in formats]
    if as_json:
        _emit_json(graph_json(graph))
    for path, text in texts:
        if path is None:
            click.echo(text, nl=False)
        else:
            write_file(path, text)
    written = ", ".join(path for path, _ in texts if path is not None)
    click.echo(f"drew {_summary(graph)}" + (f": wrote {written}" if written else ""), err=True)
    if actual is not None and actual.refused:
        raise click.exceptions.Exit(EXIT_INCOMPLETE)  # drawn without the orgs of the refused keys

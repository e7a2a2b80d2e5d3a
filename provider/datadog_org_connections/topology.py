"""`OrgTopology`: declare a whole topology of connections between named orgs at once.

    OrgTopology(
        "account",
        orgs={"hub": "<uuid>", "spoke-eu": "<uuid>", "spoke-us": "<uuid>"},  # alias -> org UUID
        hub="hub",                          # hub-and-spoke: every other org shares with the hub
        connection_types=["logs", "metrics"],
    )
    OrgTopology("mesh", orgs={...}, mode="mesh", connection_types=["metrics"])  # every ordered pair

Each alias's keys come from stack config `orgConnections:orgs.<alias>` (the source org of an edge
is the org whose keys create it). Every edge becomes one `OrgConnection` named
`<topology>-<source>-to-<sink>`, a name that depends only on the two aliases: adding or removing an
org creates or deletes only its own edges and never replaces the others. Renaming the topology:
give it `opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(name="<old name>")])`; its edges follow
(Pulumi derives each child's alias from its parent's, since the edge names start with the
topology's name).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi

from .resource import OrgConnection

MODES = ("hub-and-spoke", "mesh")


def topology_edges(aliases: Sequence[str], mode: str, hub: str | None = None) -> list[tuple[str, str]]:
    """The (source, sink) alias pairs of a topology, in a stable order."""
    if mode not in MODES:
        raise ValueError(f"OrgTopology mode must be one of {MODES}, not {mode!r}")
    names = sorted(aliases)
    if len(set(names)) != len(names):
        raise ValueError(f"OrgTopology orgs has repeated aliases: {names}")
    if mode == "mesh":
        if hub is not None:
            raise ValueError(
                f"OrgTopology hub={hub!r} has no meaning in mode 'mesh' (every org shares with every other): "
                "remove hub, or use mode='hub-and-spoke'"
            )
        return [(a, b) for a in names for b in names if a != b]
    if hub is None:
        raise ValueError("OrgTopology mode 'hub-and-spoke' needs hub=<alias of the hub org>")
    if hub not in names:
        raise ValueError(f"OrgTopology hub {hub!r} is not one of orgs: {names}")
    return [(spoke, hub) for spoke in names if spoke != hub]


def _refuse_repeated_orgs(orgs: Mapping[str, pulumi.Input[str]]) -> None:
    """Two aliases mapped to one org UUID would declare one connection twice (or one to itself)."""
    seen: dict[str, str] = {}
    for alias, org_id in orgs.items():
        if isinstance(org_id, str):
            other = seen.setdefault(org_id.strip().lower(), alias)
            if other != alias:
                raise ValueError(
                    f"OrgTopology orgs maps {other!r} and {alias!r} to the same org {org_id}: give each org "
                    "one alias (two aliases of one org would declare the same connections twice)"
                )


class OrgTopology(pulumi.ComponentResource):
    """A hub-and-spoke or full-mesh set of `OrgConnection`s between org aliases."""

    connections: dict[str, OrgConnection]
    """The connections, keyed `<source>-to-<sink>`."""

    def __init__(
        self,
        name: str,
        *,
        orgs: Mapping[str, pulumi.Input[str]],
        connection_types: pulumi.Input[Sequence[pulumi.Input[str]]],
        mode: str = "hub-and-spoke",
        hub: str | None = None,
        adopt_existing: bool | None = None,
        validate_sink: bool | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Declare the topology.

        :param orgs: org alias -> org UUID; each alias must have keys in `orgConnections:orgs`.
        :param connection_types: the types every edge shares (some of logs, metrics, audit).
        :param mode: "hub-and-spoke" (every org shares with `hub`) or "mesh" (every ordered pair).
        :param hub: the hub's alias, for hub-and-spoke.
        :param adopt_existing: adopt connections that already exist for an edge instead of failing.
        :param validate_sink: check each sink against the account at preview (default True).
        """
        _refuse_repeated_orgs(orgs)
        super().__init__("datadog-org-connections:index:OrgTopology", name, None, opts)
        self.connections = {}
        for source, sink in topology_edges(list(orgs), mode, hub):
            key = f"{source}-to-{sink}"
            self.connections[key] = OrgConnection(
                f"{name}-{key}",
                source_org=source,
                sink_org_id=orgs[sink],
                connection_types=connection_types,
                adopt_existing=adopt_existing,
                validate_sink=validate_sink,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({key: conn.id for key, conn in self.connections.items()})

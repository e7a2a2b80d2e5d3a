"""Several source orgs managed from one stack, by alias.

`orgConnections:orgs` in stack config holds each alias's keys (secrets); `orgIds` maps aliases to
org UUIDs. `OrgTopology` declares the hub-and-spoke edges; a lone `OrgConnection` with
`source_org` shows a single edge between two spokes.
"""

import pulumi

from datadog_org_connections import OrgConnection, OrgTopology

config = pulumi.Config()
org_ids: dict[str, str] = config.require_object("orgIds")  # alias -> org UUID

topology = OrgTopology(
    "acme",
    orgs={alias: org_ids[alias] for alias in config.require_object("topologyOrgs")},
    hub=config.require("hub"),
    mode=config.get("mode") or "hub-and-spoke",
    connection_types=config.require_object("connectionTypes"),
)

audit = OrgConnection(
    "eu-audit-to-us",
    source_org="spoke-eu",
    sink_org_id=org_ids["spoke-us"],
    connection_types=["audit"],
)

pulumi.export("topology", {key: conn.id for key, conn in topology.connections.items()})
pulumi.export("eu_audit_to_us", audit.id)

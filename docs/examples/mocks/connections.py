"""A program under test: the connections of a spoke org (imported by test_connections.py)."""

import pulumi

from datadog_org_connections import OrgConnection

config = pulumi.Config()
hub_org_id = config.get("hubOrgId") or "a1b10001-7f97-11f0-8de1-1ecf66f1aa85"

to_hub = OrgConnection(
    "to-hub",
    sink_org_id=hub_org_id,
    connection_types=config.get_object("connectionTypes") or ["metrics", "logs"],
)

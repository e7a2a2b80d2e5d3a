"""The benchmark program: declares what spec.json (written by the benchmark) says.

spec.json: {"mode": "ours" | "noop", and either
            "connections": [{"name", "sink", "types", "adopt_id"?}, ...]  (one OrgConnection each), or
            "topology": {"name", "orgs": {alias: org id}, "mode": "mesh" | "hub-and-spoke", "hub"?, "types"}}
"""

import json
from pathlib import Path

spec = json.loads((Path(__file__).parent / "spec.json").read_text())

if spec["mode"] == "ours":
    from datadog_org_connections import OrgConnection as Connection
    from datadog_org_connections import OrgTopology as Topology
else:
    from noop_resources import NoopConnection as Connection  # type: ignore[assignment]
    from noop_resources import NoopTopology as Topology  # type: ignore[assignment]

for c in spec.get("connections", []):
    Connection(c["name"], sink_org_id=c["sink"], connection_types=c["types"], adopt_id=c.get("adopt_id"))

if "topology" in spec:
    t = spec["topology"]
    Topology(t["name"], orgs=t["orgs"], mode=t["mode"], hub=t.get("hub"), connection_types=t["types"])

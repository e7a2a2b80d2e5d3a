"""The benchmark program: declares what spec.json (written by the benchmark) says.

spec.json: {"mode": "ours" | "noop", "connections": [{"name", "sink", "types", "adopt_id"?}, ...]}
"""

import json
from pathlib import Path

spec = json.loads((Path(__file__).parent / "spec.json").read_text())

if spec["mode"] == "ours":
    from datadog_org_connections import OrgConnection

    for c in spec["connections"]:
        OrgConnection(
            c["name"], sink_org_id=c["sink"], connection_types=c["types"], adopt_id=c.get("adopt_id")
        )
else:
    from noop_provider import NoopConnection

    for c in spec["connections"]:
        NoopConnection(
            c["name"], sink_org_id=c["sink"], connection_types=c["types"], adopt_id=c.get("adopt_id")
        )

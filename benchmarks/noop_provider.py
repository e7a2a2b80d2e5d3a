"""The engine's floor: a dynamic provider that does nothing, with the same resource shape as
`OrgConnection` (same inputs and outputs), so `pulumi up` with it costs only what the engine,
the language host and the dynamic provider host cost.

It lives in an importable module (benchmarks/ is on PYTHONPATH for the program and for the
provider process), so dill pickles it by reference, like `OrgConnectionProvider`. It imports
nothing of our package, so the provider process that unpickles it loads only what any dynamic
provider loads. The resources that use it are in noop_resources.py (the program's side).
"""

from __future__ import annotations

import uuid
from typing import Any

from pulumi.dynamic import CreateResult, ReadResult, ResourceProvider


class NoopProvider(ResourceProvider):
    """create returns an id at once; read echoes the state; everything else is the SDK default."""

    serialize_as_secret_always = False  # like OrgConnectionProvider: compare like with like

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = dict(props)
        outs.update(
            source_org_id="00000000-0000-0000-0000-000000000000",
            source_org_name="source",
            sink_org_name="sink",
            created_at="2025-01-01T00:00:00.000000+00:00",
            created_by="admin",
            created_by_id="00000000-0000-0000-0000-000000000001",
        )
        return CreateResult(str(uuid.uuid4()), outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, props)

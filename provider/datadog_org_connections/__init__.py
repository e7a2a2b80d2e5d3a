"""Datadog cross-organization connections as code, with Pulumi.

- `OrgConnection` (resource.py): the resource users declare (inputs typed by `OrgConnectionArgs` or
  `OrgConnectionArgsDict`; `OrgConnection.get` reads an existing one); `OrgConnectionProvider`
  (provider.py) its lifecycle; `OrgTopology` (topology.py): hub-and-spoke or mesh of connections.
- `OrgConnectionsClient` (client.py): the HTTP client of `/api/v2/org_connections`.
- `datadog_org_connections.emulator`: a local emulator of the API; `cli.py`: `dd-org-connections`.

Names are imported lazily so the command line and the provider process only load what they use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

_EXPORTS = {
    "OrgConnection": "resource",
    "OrgConnectionArgs": "resource",
    "OrgConnectionArgsDict": "resource",
    "OrgConnectionProvider": "provider",
    "OrgConnectionError": "provider",
    "OrgTopology": "topology",
    "OrgConnectionsClient": "client",
    "Connection": "models",
    "ManagedOrg": "models",
    "Credentials": "settings",
    "resolve_credentials": "settings",
}

__all__ = [
    "Connection",
    "Credentials",
    "ManagedOrg",
    "OrgConnection",
    "OrgConnectionArgs",
    "OrgConnectionArgsDict",
    "OrgConnectionError",
    "OrgConnectionProvider",
    "OrgConnectionsClient",
    "OrgTopology",
    "__version__",
    "resolve_credentials",
]

if TYPE_CHECKING:
    from .client import OrgConnectionsClient
    from .models import Connection, ManagedOrg
    from .provider import OrgConnectionError, OrgConnectionProvider
    from .resource import OrgConnection, OrgConnectionArgs, OrgConnectionArgsDict
    from .settings import Credentials, resolve_credentials
    from .topology import OrgTopology


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)

"""Identity proofs: what the provider checks before acting on a connection (issue 19).

A connection is acted on (adopted, updated, deleted, dropped from the state) only when it is proven
to be the declared one. The keys' org comes from `Deployment.identity` (identity.py); these functions
turn it into the provider's decisions and messages:

- `keys_moved`: the keys now belong to another org than the connection's source (diff refuses);
- `require_party`: before taking "not listed" for "gone", the keys must be of one of its orgs;
- `confirm_gone`: after a 404, gone only once the keys' listing of the pair confirms it;
- `resource_name`, `held_elsewhere`: how messages name a resource and a connection another holds.

Where the keys' org cannot be learnt, `require_party` fails open (as before these checks) and says so
in a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import diagnostics
from .advice import RECORDED_CONFIG, OrgConnectionError, org_label
from .deployment import Deployment
from .errors import ConfigurationError
from .identity import KeysIdentity, org_text
from .models import Connection
from .preflight import keys_setting
from .stack_config import ORGS_KEY

__all__ = [
    "confirm_gone",
    "held_elsewhere",
    "identity_or_none",
    "keys_moved",
    "require_party",
    "resource_name",
]


def identity_or_none(deployment: Deployment, alias: str | None) -> KeysIdentity | None:
    """Who `alias`'s keys are; None when the alias has no usable keys (the step needing them says so)."""
    try:
        return deployment.identity(alias)
    except ConfigurationError:
        return None


def keys_moved(
    conn_id: str, olds: Mapping[str, Any], alias: str | None, identity: KeysIdentity
) -> OrgConnectionError:
    """The keys of `alias` now belong to another org than the one connection `conn_id` comes from."""
    source = org_text(olds.get("source_org_id"), olds.get("source_org_name") or "")
    sink = org_text(olds.get("sink_org_id"), olds.get("sink_org_name") or "")
    move = (
        f"declare {identity.text}'s keys under a new alias in {ORGS_KEY} and set source_org to it"
        if alias is not None
        else f"declare {identity.text}'s keys under an alias in {ORGS_KEY} and set source_org to it, "
        "keeping datadog:apiKey/appKey for the old org until that `pulumi up` has run"
    )
    return OrgConnectionError(
        f"the keys of {org_label(alias)} ({keys_setting(alias)}) now belong to {identity.text}, but connection "
        f"{conn_id} joins {source} -> {sink}: acting with these keys would leave it orphaned and make a "
        f"connection from the wrong org. To fix: put the keys of {source} back in {keys_setting(alias)}; "
        f"to move the connection to {identity.text} instead, {move} (the replacement deletes the old "
        "connection with the old org's keys)."
    )


def require_party(
    deployment: Deployment, conn_id: str, props: Mapping[str, Any], command: str
) -> bool | None:
    """Before taking "not found" for "gone": the keys must be of one of the connection's orgs.

    Raises when they are proven not to be (nothing is dropped or reported deleted); returns whether
    they are proven to be (None: the keys' org could not be learnt, and the caller fails open)."""
    alias = props.get("source_org")
    identity = identity_or_none(deployment, alias)
    if identity is None or not identity.known:
        why = identity.unknown_because if identity is not None else "no keys"
        diagnostics.warn(
            f"{command}: connection {conn_id} is taken as gone, although whose keys {org_label(alias)} "
            f"holds ({keys_setting(alias)}) could not be learnt ({why}): if these keys belong to another "
            "org than the connection's, it may still exist (`dd-org-connections reconcile` shows it)"
        )
        return None
    source, sink = props.get("source_org_id"), props.get("sink_org_id")
    if identity.is_party(source, sink) is not False:
        return True
    raise OrgConnectionError(
        f"{command} cannot tell whether connection {conn_id} still exists: the keys of {org_label(alias)} "
        f"({keys_setting(alias)}) now belong to {identity.text}, and this connection joins "
        f"{org_text(source, props.get('source_org_name') or '')} -> "
        f"{org_text(sink, props.get('sink_org_name') or '')}. Nothing was changed. To fix: use the keys of "
        f"one of these orgs; {RECORDED_CONFIG}."
    )


def confirm_gone(deployment: Deployment, conn_id: str, props: Mapping[str, Any], command: str) -> None:
    """After a 404: gone only if the keys are of a party and their listing of the pair confirms it."""
    if not require_party(deployment, conn_id, props, command):
        return  # the keys' org is unknown: fail open, as the 404 says
    alias = props.get("source_org")
    source, sink = props.get("source_org_id"), props.get("sink_org_id")
    still = deployment.client(alias).find_connection(conn_id, source_org_id=source, sink_org_id=sink)
    if still is not None:
        raise OrgConnectionError(
            f"{command} of org connection {conn_id} was answered 404, yet {org_label(alias)} still lists it "
            "(the API may be catching up). Nothing was changed. To fix: run the command again."
        )


def resource_name(owner: str) -> str:
    """A resource as messages name it: `OrgConnection 'name'` (from `project/stack/name`)."""
    return f"OrgConnection {owner.split('/', 2)[-1]!r}"


def held_elsewhere(conn: Connection, holder: str | None) -> str:
    """Why a connection held by another resource of the deployment is not taken, and the fix."""
    who = resource_name(holder) if holder else "another resource of this deployment"
    return (
        f"connection {conn.id} ({conn.source_org_name or conn.source_org_id} -> "
        f"{conn.sink_org_name or conn.sink_org_id}) is held by {who}, and two resources cannot hold one "
        "connection: remove one of the two declarations of the pair"
    )

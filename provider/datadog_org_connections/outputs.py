"""What an `OrgConnection`'s outputs hold: the inputs echoed, then the connection as the API says.

`diff` sees old outputs only, so the inputs are echoed into them. Answers that lack something
the outputs hold keep the previous value (``known``, the old outputs): a PATCH answer carries no
org or creator names and no ``included`` users, so an update in place keeps them, and so does a
refresh whose list answer does not say.

``created_by_service_account`` (True, False, or None: unknown) says whether the connection's
creator is a service account: a person's connections are deleted by Datadog when that person's
account is deactivated. From the list answer's ``included`` users (refresh, adoption); at create,
from the user behind the keys that made it (``GET /api/v2/current_user``, the preflight).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi.runtime import rpc

from .models import Connection, CurrentUser
from .schema import INPUTS, SECRETS_INPUT

__all__ = ["creator_is_service_account", "outputs", "refreshed_inputs", "secret_outputs"]


def creator_is_service_account(conn: Connection, user: CurrentUser | None, made_here: bool) -> bool | None:
    """Whether `conn`'s creator is a service account (None: cannot tell).

    The list's ``included`` users say it when present. Otherwise the keys' user (``user``) is the
    creator when the connection names that user, or, naming no creator, when these keys made it
    (``made_here``: a POST of this resource, not an adoption of someone else's connection).
    """
    if conn.created_by_service_account is not None:
        return conn.created_by_service_account
    if user is None or not user.user_id:
        return None
    creator = conn.created_by_id.lower()
    same = creator == user.user_id.lower() if creator else made_here
    return user.service_account if same else None


def outputs(
    conn: Connection,
    inputs: Mapping[str, Any],
    adopted: str | None,
    known: Mapping[str, Any] | None = None,
    service_account: bool | None = None,
) -> dict[str, Any]:
    """The resource outputs: the inputs echoed (diff only sees outputs), then the connection as the API
    says; what the answer lacks (names, the creator's kind) is kept from ``known`` (the old outputs).

    ``service_account``: whether the creator is a service account, when the caller knows better
    than the answer (see :func:`creator_is_service_account`)."""
    known = known or {}
    if service_account is None:
        service_account = conn.created_by_service_account
    if service_account is None and isinstance(known.get("created_by_service_account"), bool):
        service_account = known["created_by_service_account"]
    outs: dict[str, Any] = {spec.name: inputs.get(spec.name) for spec in INPUTS}
    outs.update(
        source_org_id=conn.source_org_id,
        source_org_name=conn.source_org_name or known.get("source_org_name") or "",
        sink_org_id=conn.sink_org_id,
        sink_org_name=conn.sink_org_name or known.get("sink_org_name") or "",
        connection_types=sorted(conn.connection_types),
        created_at=conn.created_at,
        created_by=conn.created_by_name or known.get("created_by") or conn.created_by_id,
        created_by_id=conn.created_by_id,
        created_by_service_account=service_account,
        adopted=adopted,
    )
    return secret_outputs(outs)


def secret_outputs(outs: dict[str, Any]) -> dict[str, Any]:
    """Outputs derived from a secret input are stored as secrets too (the sink's name, when the sink is)."""
    secrets = outs.get(SECRETS_INPUT)
    if isinstance(secrets, list) and "sink_org_id" in secrets and outs.get("sink_org_name"):
        outs["sink_org_name"] = rpc.wrap_rpc_secret(outs["sink_org_name"])
    return outs


def refreshed_inputs(conn: Connection, props: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs as the API holds them, for later diffs: what native providers return from Read, so
    that `ignore_changes` keeps a value refresh saw (without it, `up` restores the declared value)."""
    inputs = {spec.name: props.get(spec.name) for spec in INPUTS}
    inputs.update(sink_org_id=conn.sink_org_id.lower(), connection_types=sorted(conn.connection_types))
    return {name: value for name, value in inputs.items() if value is not None}

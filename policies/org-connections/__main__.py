"""`org-connections`: guardrails for Datadog org connections, as a Pulumi policy pack.

    pulumi preview --policy-pack policies/org-connections [--policy-pack-config config.json]

Five policies (docs/policies.md): audit-sinks-allow-listed, max-sinks-per-source, declared-topology,
no-production-to-non-production (mandatory unless the config says otherwise), and
created-by-service-account (advisory unless the config says otherwise).
The rule logic is in `org_connection_rules.py` (plain functions); this file wires it to the engine.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

try:
    from pulumi_policy import (
        EnforcementLevel,
        PolicyConfigSchema,
        PolicyPack,
        ReportViolation,
        ResourceValidationArgs,
        ResourceValidationPolicy,
        StackValidationArgs,
        StackValidationPolicy,
    )
    from pulumi_policy.proxy import UnknownValueError
except ImportError as exc:  # the interpreter running the pack lacks the Policy SDK
    raise SystemExit(
        f"The org-connections policy pack needs pulumi-policy in {sys.prefix} ({exc}). Fix: "
        f"`{sys.executable} -m pip install pulumi-policy==1.21.0` (the project's `dev` extra has it), "
        "or name another virtualenv under runtime.options.virtualenv in PulumiPolicy.yaml."
    ) from None

import org_connection_rules as rules

Settings = TypeVar("Settings")

_STRINGS = {"type": "string"}
_STRING_MAP = {"type": "object", "additionalProperties": _STRINGS}
_STRING_LIST = {"type": "array", "items": _STRINGS}
#: Settings every policy accepts: how orgs are named (see org_connection_rules).
_DIRECTORY_SCHEMA: dict[str, dict[str, Any]] = {
    "orgs": {**_STRING_MAP, "description": "org alias -> org UUID"},
    "stackOrg": {**_STRINGS, "description": "alias or UUID of the org of the stack's own keys"},
    "stackOrgs": {**_STRING_MAP, "description": "stack name (or project/stack) -> alias or UUID of its org"},
}


def _plain(value: Any) -> Any:
    """The engine's property values as plain dicts and lists, with `UNKNOWN` for unknown values."""
    if isinstance(value, Mapping):
        items = {}
        for key in value:
            try:
                items[key] = _plain(value[key])
            except UnknownValueError:
                items[key] = rules.UNKNOWN
        return items
    if isinstance(value, Sequence) and not isinstance(value, str):
        elements = []
        for index in range(len(value)):
            try:
                elements.append(_plain(value[index]))
            except UnknownValueError:
                elements.append(rules.UNKNOWN)
        return elements
    return value


def _connection(resource_type: str, urn: str, name: str, props: Mapping[str, Any]) -> rules.Connection | None:
    return rules.connection_from_props(resource_type, urn, name, _plain(props))


def _schema(own: dict[str, dict[str, Any]]) -> PolicyConfigSchema:
    return PolicyConfigSchema(properties={**own, **_DIRECTORY_SCHEMA})


def _resource_policy(
    name: str,
    description: str,
    settings: Callable[[Mapping[str, Any]], Settings],
    check: Callable[[rules.Connection, Settings], list[str]],
    schema: dict[str, dict[str, Any]],
) -> ResourceValidationPolicy:
    """A policy checking each OrgConnection on its own."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        conn = _connection(args.resource_type, args.urn, args.name, args.props)
        if conn is None:
            return
        try:
            parsed = settings(args.get_config() or {})
        except rules.ConfigError as exc:
            report_violation(str(exc), None)
            return
        for message in check(conn, parsed):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=name, description=description, validate=validate, config_schema=_schema(schema)
    )


def _stack_connections(args: StackValidationArgs) -> list[rules.Connection]:
    """The stack's org connections, as the rules see them."""
    return [
        conn
        for r in args.resources
        if (conn := _connection(r.resource_type, r.urn, r.name, r.props)) is not None
    ]


def _validate_sink_limit(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    conns = _stack_connections(args)
    if not conns:
        return
    try:
        settings = rules.limit_settings(args.get_config() or {})
    except rules.ConfigError as exc:
        report_violation(str(exc), None)
        return
    for urn, message in rules.check_sink_limit(conns, settings):
        report_violation(message, urn)


def _validate_creators(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """On the stack's resources as they end (their outputs): existing connections' creators."""
    conns = _stack_connections(args)
    if not conns:
        return
    try:
        settings = rules.creator_settings(args.get_config() or {})
    except rules.ConfigError as exc:
        report_violation(str(exc), None)
        return
    for conn in conns:
        for message in rules.check_creator(conn, settings):
            report_violation(message, conn.urn)


POLICIES = [
    _resource_policy(
        rules.AUDIT_POLICY,
        "Audit data goes only to sink orgs allow-listed in allowedSinks.",
        rules.audit_settings,
        rules.check_audit_sink,
        {"allowedSinks": {**_STRING_LIST, "default": [], "description": "org UUIDs or aliases"}},
    ),
    StackValidationPolicy(
        name=rules.LIMIT_POLICY,
        description=f"A source org shares with at most maxSinks orgs (default {rules.DEFAULT_MAX_SINKS}).",
        validate=_validate_sink_limit,
        config_schema=_schema(
            {
                "maxSinks": {"type": "integer", "minimum": 0, "default": rules.DEFAULT_MAX_SINKS},
                "maxSinksBySource": {
                    "type": "object",
                    "additionalProperties": {"type": "integer", "minimum": 0},
                    "description": "source org alias or UUID -> its own limit",
                },
            }
        ),
    ),
    _resource_policy(
        rules.TOPOLOGY_POLICY,
        "Connections go only to the declared hub, or between allowedPairs.",
        rules.topology_settings,
        rules.check_topology,
        {
            "hub": {**_STRINGS, "description": "alias or UUID of the hub: every connection's sink"},
            "allowedPairs": {
                "type": "array",
                "items": {**_STRING_LIST, "minItems": 2, "maxItems": 2},
                "description": "[source, sink] pairs of org aliases or UUIDs",
            },
        },
    ),
    _resource_policy(
        rules.PRODUCTION_POLICY,
        "No connection from an org tagged production to an org tagged non-production.",
        rules.production_settings,
        rules.check_production,
        {
            "orgTags": {"type": "object", "additionalProperties": _STRING_LIST},
            "productionTag": {**_STRINGS, "default": rules.DEFAULT_PRODUCTION_TAG},
            "nonProductionTag": {**_STRINGS, "default": rules.DEFAULT_NON_PRODUCTION_TAG},
        },
    ),
]

POLICIES.append(
    StackValidationPolicy(
        name=rules.CREATOR_POLICY,
        description="Connections are made by service accounts: a person's are deleted with their account.",
        validate=_validate_creators,
        enforcement_level=EnforcementLevel.ADVISORY,
        config_schema=_schema({}),
    )
)

PolicyPack(
    name="org-connections",
    description="Guardrails for Datadog cross-organization connections (datadog-org-connections).",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)

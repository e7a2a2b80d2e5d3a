"""The rules of the `org-connections` policy pack, as plain functions over plain data.

The pack's entry point (`__main__.py`) turns what the engine sends into `Connection`s (unknown
values of a preview become `UNKNOWN`) and each policy's config into a settings object, then calls
the checks here. A check returns only what it can prove wrong: a value unknown at preview (the
output of a resource not created yet) never fails it, nor does an org it cannot identify.

How orgs are named in the config: by org UUID, or by an alias. `orgs` maps aliases to UUIDs
(use the aliases of `source_org` and of the stack config `orgConnections:orgs`). A sink is always
a UUID in the resource, so a sink named in config must be a UUID or an alias mapped in `orgs`.
A connection with no `source_org` comes from the stack's own org: `stackOrgs` (by stack name, or
`project/stack`) or `stackOrg` names it. Aliases not mapped in `orgs` are compared by name:
two different aliases are taken for two different orgs unless `orgs` maps them to one UUID.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, NamedTuple

AUDIT_POLICY: Final = "audit-sinks-allow-listed"
LIMIT_POLICY: Final = "max-sinks-per-source"
TOPOLOGY_POLICY: Final = "declared-topology"
PRODUCTION_POLICY: Final = "no-production-to-non-production"
CREATOR_POLICY: Final = "created-by-service-account"

#: Published limit: a non-Enterprise org can share with at most 5 other orgs.
DEFAULT_MAX_SINKS: Final = 5
DEFAULT_PRODUCTION_TAG: Final = "production"
DEFAULT_NON_PRODUCTION_TAG: Final = "non-production"

#: Settings every policy of the pack accepts (how orgs are named).
DIRECTORY_SETTINGS: Final = ("orgs", "stackOrg", "stackOrgs")

_ALIAS: Final = "alias:"  # key of an org known only by an alias not mapped in `orgs`
_SELF: Final = "self:"  # key of a stack's own org when nothing names it
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class Unknown:
    """The type of `UNKNOWN`: a value the engine does not know yet (during a preview)."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN: Final = Unknown()


class PropertyNames(NamedTuple):
    """Where a resource type keeps the fields the rules read (None: the type has no such field)."""

    sink_org_id: str
    connection_types: str
    source_org: str | None
    source_org_id: str
    created_by: str | None = None
    created_by_service_account: str | None = None


#: Engine type tokens of the resources the pack checks.
RESOURCE_TYPES: Final[Mapping[str, PropertyNames]] = {
    "pulumi-python:dynamic/datadog:OrgConnection": PropertyNames(
        "sink_org_id",
        "connection_types",
        "source_org",
        "source_org_id",
        "created_by",
        "created_by_service_account",
    ),
    # pulumi_datadog.OrgConnection (Terraform-bridged, camelCase): always from the provider's org.
    "datadog:index/orgConnection:OrgConnection": PropertyNames(
        "sinkOrgId", "connectionTypes", None, "sourceOrgId"
    ),
}


class ConfigError(ValueError):
    """The policy pack config of one policy is not usable (the message says what to change)."""


def is_org_id(name: str) -> bool:
    """Whether `name` is an org UUID (rather than an alias)."""
    return bool(_UUID.match(name))


@dataclass(frozen=True)
class Connection:
    """One org connection of the stack, as the engine describes it (values may be `UNKNOWN`)."""

    name: str
    urn: str
    sink_org_id: str | Unknown
    connection_types: tuple[str | Unknown, ...] | Unknown
    source_org: str | Unknown | None = None
    source_org_id: str | Unknown | None = None  # an output: known once the connection exists
    created_by: str | Unknown | None = None  # outputs, known once the connection exists:
    created_by_service_account: bool | Unknown | None = None  # None: unknown (or not our type)

    @property
    def stack(self) -> str:
        """The stack name, from the URN (`urn:pulumi:<stack>::<project>::<type>::<name>`)."""
        return self.urn.removeprefix("urn:pulumi:").split("::")[0]

    @property
    def project(self) -> str:
        """The project name, from the URN."""
        parts = self.urn.split("::")
        return parts[1] if len(parts) > 1 else ""

    @property
    def label(self) -> str:
        """How messages name the resource."""
        return f"OrgConnection '{self.name}'"

    def shares(self, data_type: str) -> bool:
        """Whether the connection is known to share `data_type`."""
        return not isinstance(self.connection_types, Unknown) and data_type in self.connection_types

    def known_types(self) -> list[str]:
        """The connection types known so far, sorted."""
        if isinstance(self.connection_types, Unknown):
            return []
        return sorted(t for t in self.connection_types if isinstance(t, str))


def _text(value: Any) -> str | Unknown | None:
    if isinstance(value, Unknown):
        return UNKNOWN
    if value is None or value == "":
        return None
    return str(value)


def connection_from_props(
    resource_type: str, urn: str, name: str, props: Mapping[str, Any]
) -> Connection | None:
    """The `Connection` of a resource's properties, or None for a resource of another type.

    `props` holds plain values, with `UNKNOWN` where the engine does not know one yet.
    """
    names = RESOURCE_TYPES.get(resource_type)
    if names is None:
        return None
    raw_types = props.get(names.connection_types)
    types: tuple[str | Unknown, ...] | Unknown
    if isinstance(raw_types, Unknown):
        types = UNKNOWN
    elif isinstance(raw_types, Sequence) and not isinstance(raw_types, str):
        types = tuple(t if isinstance(t, Unknown) else str(t) for t in raw_types)
    else:
        types = ()
    sink = _text(props.get(names.sink_org_id))
    return Connection(
        name=name,
        urn=urn,
        sink_org_id=UNKNOWN if sink is None else sink,  # missing: the provider refuses it anyway
        connection_types=types,
        source_org=_text(props.get(names.source_org)) if names.source_org else None,
        source_org_id=_text(props.get(names.source_org_id)),
        created_by=_text(props.get(names.created_by)) if names.created_by else None,
        created_by_service_account=_flag(props.get(names.created_by_service_account))
        if names.created_by_service_account
        else None,
    )


def _flag(value: Any) -> bool | Unknown | None:
    if isinstance(value, (bool, Unknown)):
        return value
    return None


@dataclass(frozen=True)
class OrgDirectory:
    """How the config names orgs: aliases mapped to UUIDs, and each stack's own org."""

    orgs: Mapping[str, str] = field(default_factory=dict)  # alias -> lower-case UUID
    stack_org: str | None = None
    stack_orgs: Mapping[str, str] = field(default_factory=dict)  # stack or project/stack -> org
    learned: Mapping[str, str] = field(default_factory=dict)  # provisional key -> UUID, from outputs

    def key(self, name: str) -> str:
        """The key identifying the org `name` (a UUID or an alias) in comparisons."""
        if name in self.orgs:
            return self.orgs[name]
        if is_org_id(name):
            return name.lower()
        return self.learned.get(_ALIAS + name, _ALIAS + name)

    def sink_key(self, conn: Connection) -> str | None:
        """The key of the connection's sink org; None while unknown."""
        return None if isinstance(conn.sink_org_id, Unknown) else self.key(conn.sink_org_id)

    def own_org(self, conn: Connection) -> str | None:
        """The configured name of the org of the connection's stack, if any."""
        by_stack = self.stack_orgs.get(f"{conn.project}/{conn.stack}") or self.stack_orgs.get(conn.stack)
        return by_stack or self.stack_org

    def source_key(self, conn: Connection) -> str | None:
        """The key of the connection's source org; None while unknown."""
        if isinstance(conn.source_org, Unknown):
            return None
        if conn.source_org is not None:
            return self.key(conn.source_org)
        own = self.own_org(conn)
        if own:
            return self.key(own)
        provisional = f"{_SELF}{conn.project}/{conn.stack}"
        return self.learned.get(provisional, provisional)

    def learn(self, conns: Iterable[Connection]) -> OrgDirectory:
        """This directory, plus the source org UUIDs that existing connections report as outputs."""
        learned = dict(self.learned)
        for conn in conns:
            key = self.source_key(conn)
            if isinstance(conn.source_org_id, str) and key is not None and not is_org_id(key):
                learned.setdefault(key, conn.source_org_id.lower())
        return replace(self, learned=learned)

    def names(self, key: str) -> list[str]:
        """Every name of the org `key` in the config: its aliases, then its UUID."""
        if key.startswith(_SELF):
            return []
        if key.startswith(_ALIAS):
            return [key.removeprefix(_ALIAS)]
        aliases = {a for a, i in self.orgs.items() if i == key}
        aliases |= {
            k.removeprefix(_ALIAS) for k, i in self.learned.items() if i == key and k.startswith(_ALIAS)
        }
        return [*sorted(aliases), key]

    def describe(self, key: str) -> str:
        """The org `key` for a message: `alias (uuid)`, a UUID, an alias, or the stack's own org."""
        if key.startswith(_SELF):
            return f"the own org of stack {key.removeprefix(_SELF)} (name it with stackOrg or stackOrgs)"
        names = self.names(key)
        return f"{', '.join(names[:-1])} ({names[-1]})" if len(names) > 1 else names[0]


def may_be_same(a: str, b: str) -> bool:
    """Whether two org keys may name the same org (different UUIDs, or different aliases, cannot)."""
    if a == b:
        return True
    both_ids = is_org_id(a) and is_org_id(b)
    both_aliases = a.startswith(_ALIAS) and b.startswith(_ALIAS)
    return not (both_ids or both_aliases)


# --- Config ---------------------------------------------------------------------------------


def _check_settings(policy: str, raw: Mapping[str, Any], own: Sequence[str]) -> None:
    known = [*own, *DIRECTORY_SETTINGS]
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(
            f"[{policy}] the policy pack config has unknown setting(s) {', '.join(unknown)} for policy "
            f"{policy}. Fix: use only {', '.join(known)} (see docs/policies.md)."
        )


def _string_map(policy: str, raw: Mapping[str, Any], setting: str) -> dict[str, str]:
    value = raw.get(setting) or {}
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigError(f"[{policy}] setting {setting} must be an object of strings, not {value!r}.")
    return {str(k): v for k, v in value.items()}


def _string_list(policy: str, raw: Mapping[str, Any], setting: str) -> list[str]:
    value = raw.get(setting) or []
    if (
        not isinstance(value, Sequence)
        or isinstance(value, str)
        or not all(isinstance(v, str) for v in value)
    ):
        raise ConfigError(f"[{policy}] setting {setting} must be a list of strings, not {value!r}.")
    return list(value)


def _count(policy: str, setting: str, value: Any) -> int:
    # JSON numbers arrive as floats from the engine (5 -> 5.0).
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != int(value):
        raise ConfigError(f"[{policy}] setting {setting} must be a whole number >= 0, not {value!r}.")
    return int(value)


def directory_from_config(policy: str, raw: Mapping[str, Any]) -> OrgDirectory:
    """The org names of one policy's config (`orgs`, `stackOrg`, `stackOrgs`)."""
    orgs = _string_map(policy, raw, "orgs")
    for alias, org_id in orgs.items():
        if not is_org_id(org_id):
            raise ConfigError(
                f"[{policy}] setting orgs.{alias} must be an org UUID, not {org_id!r}. "
                "Fix: map each alias to its org's UUID (`dd-org-connections orgs` lists them)."
            )
    stack_org = raw.get("stackOrg")
    if stack_org is not None and not isinstance(stack_org, str):
        raise ConfigError(f"[{policy}] setting stackOrg must be an org alias or UUID, not {stack_org!r}.")
    return OrgDirectory(
        orgs={a: i.lower() for a, i in orgs.items()},
        stack_org=stack_org or None,
        stack_orgs=_string_map(policy, raw, "stackOrgs"),
    )


def _sink_name(policy: str, directory: OrgDirectory, setting: str, name: str) -> str:
    """A configured sink org: its UUID (sinks are UUIDs in resources, so aliases must be mapped)."""
    key = directory.key(name)
    if not is_org_id(key):
        raise ConfigError(
            f"[{policy}] setting {setting} names {name!r}, which is neither an org UUID nor an alias in "
            f"orgs. Fix: add it to orgs ({{{name!r}: '<org uuid>'}}) or use the org's UUID."
        )
    return key


@dataclass(frozen=True)
class AuditSettings:
    """Config of `audit-sinks-allow-listed`: the sink orgs allowed to receive audit data."""

    directory: OrgDirectory
    allowed_sinks: frozenset[str]


def audit_settings(raw: Mapping[str, Any]) -> AuditSettings:
    """Read `allowedSinks` (UUIDs or mapped aliases; default: none, so no audit connection at all)."""
    _check_settings(AUDIT_POLICY, raw, ("allowedSinks",))
    directory = directory_from_config(AUDIT_POLICY, raw)
    allowed = {
        _sink_name(AUDIT_POLICY, directory, "allowedSinks", n)
        for n in _string_list(AUDIT_POLICY, raw, "allowedSinks")
    }
    return AuditSettings(directory, frozenset(allowed))


@dataclass(frozen=True)
class LimitSettings:
    """Config of `max-sinks-per-source`: how many sink orgs one source org may share with."""

    directory: OrgDirectory
    max_sinks: int = DEFAULT_MAX_SINKS
    by_source: Mapping[str, int] = field(default_factory=dict)  # org name -> limit

    def limit(self, directory: OrgDirectory, source: str) -> int:
        """The limit of the source org `source` (a key of `directory`)."""
        for name, limit in self.by_source.items():
            if directory.key(name) == source:
                return limit
        return self.max_sinks


def limit_settings(raw: Mapping[str, Any]) -> LimitSettings:
    """Read `maxSinks` (default 5) and `maxSinksBySource` (org alias or UUID -> limit)."""
    _check_settings(LIMIT_POLICY, raw, ("maxSinks", "maxSinksBySource"))
    by_source = raw.get("maxSinksBySource") or {}
    if not isinstance(by_source, Mapping):
        raise ConfigError(f"[{LIMIT_POLICY}] setting maxSinksBySource must be an object, not {by_source!r}.")
    return LimitSettings(
        directory=directory_from_config(LIMIT_POLICY, raw),
        max_sinks=_count(LIMIT_POLICY, "maxSinks", raw.get("maxSinks", DEFAULT_MAX_SINKS)),
        by_source={str(k): _count(LIMIT_POLICY, f"maxSinksBySource.{k}", v) for k, v in by_source.items()},
    )


@dataclass(frozen=True)
class TopologySettings:
    """Config of `declared-topology`: a hub every connection goes to, and/or allowed pairs."""

    directory: OrgDirectory
    hub: str | None = None  # UUID
    pairs: tuple[tuple[str, str], ...] = ()  # (source name, sink UUID)

    def describe(self) -> str:
        """The declared topology, for messages."""
        d = self.directory
        parts = [f"hub: {d.describe(self.hub)}"] if self.hub else []
        if self.pairs:
            pairs = ", ".join(f"[{src}, {d.describe(sink)}]" for src, sink in self.pairs)
            parts.append(f"allowedPairs: {pairs}")
        return "; ".join(parts)


def topology_settings(raw: Mapping[str, Any]) -> TopologySettings:
    """Read `hub` (org alias or UUID) and `allowedPairs` ([[source, sink], ...])."""
    _check_settings(TOPOLOGY_POLICY, raw, ("hub", "allowedPairs"))
    directory = directory_from_config(TOPOLOGY_POLICY, raw)
    hub = raw.get("hub")
    if hub is not None and not isinstance(hub, str):
        raise ConfigError(f"[{TOPOLOGY_POLICY}] setting hub must be an org alias or UUID, not {hub!r}.")
    pairs: list[tuple[str, str]] = []
    for pair in raw.get("allowedPairs") or []:
        if not (isinstance(pair, Sequence) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise ConfigError(
                f"[{TOPOLOGY_POLICY}] each entry of allowedPairs must be [source, sink] (org aliases "
                f"or UUIDs), not {pair!r}."
            )
        pairs.append((pair[0], _sink_name(TOPOLOGY_POLICY, directory, "allowedPairs", pair[1])))
    return TopologySettings(
        directory=directory,
        hub=_sink_name(TOPOLOGY_POLICY, directory, "hub", hub) if hub else None,
        pairs=tuple(pairs),
    )


@dataclass(frozen=True)
class ProductionSettings:
    """Config of `no-production-to-non-production`: tags per org, and the two tag names."""

    directory: OrgDirectory
    org_tags: Mapping[str, frozenset[str]] = field(default_factory=dict)  # alias or lower-case UUID
    production_tag: str = DEFAULT_PRODUCTION_TAG
    non_production_tag: str = DEFAULT_NON_PRODUCTION_TAG

    def tags(self, directory: OrgDirectory, key: str) -> frozenset[str]:
        """The tags of org `key`: those given for any of its names (aliases or UUID)."""
        found: set[str] = set()
        for name in directory.names(key):
            found |= self.org_tags.get(name, frozenset())
        return frozenset(found)


def production_settings(raw: Mapping[str, Any]) -> ProductionSettings:
    """Read `orgTags` (org alias or UUID -> list of tags), `productionTag`, `nonProductionTag`."""
    policy = PRODUCTION_POLICY
    _check_settings(policy, raw, ("orgTags", "productionTag", "nonProductionTag"))
    tags = raw.get("orgTags") or {}
    if not isinstance(tags, Mapping):
        raise ConfigError(f"[{policy}] setting orgTags must be an object of org -> list of tags.")
    org_tags = {
        (k.lower() if is_org_id(k) else str(k)): frozenset(_string_list(policy, tags, k)) for k in tags
    }
    names = {s: raw.get(s) for s in ("productionTag", "nonProductionTag")}
    for setting, value in names.items():
        if value is not None and not (isinstance(value, str) and value):
            raise ConfigError(f"[{policy}] setting {setting} must be a non-empty string, not {value!r}.")
    return ProductionSettings(
        directory=directory_from_config(policy, raw),
        org_tags=org_tags,
        production_tag=names["productionTag"] or DEFAULT_PRODUCTION_TAG,
        non_production_tag=names["nonProductionTag"] or DEFAULT_NON_PRODUCTION_TAG,
    )


@dataclass(frozen=True)
class CreatorSettings:
    """Config of `created-by-service-account`: only the settings every policy takes."""

    directory: OrgDirectory


def creator_settings(raw: Mapping[str, Any]) -> CreatorSettings:
    """No settings of its own; the level (advisory by default) is set as for every policy."""
    _check_settings(CREATOR_POLICY, raw, ())
    return CreatorSettings(directory_from_config(CREATOR_POLICY, raw))


# --- Checks ---------------------------------------------------------------------------------


def check_audit_sink(conn: Connection, settings: AuditSettings) -> list[str]:
    """Audit data goes only to allow-listed sink orgs."""
    d = settings.directory
    sink = d.sink_key(conn)
    if not conn.shares("audit") or sink is None or sink in settings.allowed_sinks:
        return []
    allowed = ", ".join(sorted(d.describe(k) for k in settings.allowed_sinks)) or "none"
    return [
        f"[{AUDIT_POLICY}] {conn.label} shares audit data with org {d.describe(sink)}, which is not "
        f'allow-listed for audit data (allowedSinks: {allowed}). Fix: remove "audit" from '
        f"connection_types, or add the sink org's UUID (or its alias in orgs) to allowedSinks of "
        f"policy {AUDIT_POLICY} in the policy pack config."
    ]


def check_sink_limit(conns: Sequence[Connection], settings: LimitSettings) -> list[tuple[str, str]]:
    """At most N sink orgs per source org among the stack's connections: (urn, message) pairs.

    Counts what is provable: distinct known sinks, or one when every sink of a source is unknown.
    A connection whose source is unknown is not counted.
    """
    d = settings.directory.learn(conns)
    groups: dict[str, list[Connection]] = {}
    for conn in conns:
        source = d.source_key(conn)
        if source is not None:
            groups.setdefault(source, []).append(conn)
    violations = []
    for source, members in sorted(groups.items()):
        sinks = [d.sink_key(c) for c in members]
        known = {s for s in sinks if s is not None}
        count = max(len(known), 1 if None in sinks else 0)
        limit = settings.limit(d, source)
        if count <= limit:
            continue
        names = ", ".join(sorted(c.name for c in members))
        violations.append((
            min(c.urn for c in members),
            f"[{LIMIT_POLICY}] source org {d.describe(source)} would share data with {count} orgs "
            f"through this stack's connections ({names}): over the limit of {limit}. Non-Enterprise "
            f"Datadog orgs can share with at most {DEFAULT_MAX_SINKS} orgs, and connections made outside "
            f"this stack count too. Fix: remove connections, or for an Enterprise org raise maxSinks "
            f"(or maxSinksBySource) of policy {LIMIT_POLICY} in the policy pack config.",
        ))  # fmt: skip
    return violations


def check_topology(conn: Connection, settings: TopologySettings) -> list[str]:
    """Connections only go to the hub, or between allowed (source, sink) pairs (when declared)."""
    d = settings.directory
    sink = d.sink_key(conn)
    if (settings.hub is None and not settings.pairs) or sink is None or sink == settings.hub:
        return []
    sources = [d.key(src) for src, pair_sink in settings.pairs if pair_sink == sink]
    source = d.source_key(conn)
    if sources and (source is None or any(may_be_same(source, s) for s in sources)):
        return []
    origin = d.describe(source) if source is not None else "its source org"
    fixes = [f"point sink_org_id at the hub, {d.describe(settings.hub)}"] if settings.hub else []
    fixes.append(f"add [{_config_name(d, source)}, {_config_name(d, sink)}] to allowedPairs")
    return [
        f"[{TOPOLOGY_POLICY}] {conn.label} connects {origin} to {d.describe(sink)}, which is not an "
        f"edge of the declared topology ({settings.describe()}). Fix: {', or '.join(fixes)} of policy "
        f"{TOPOLOGY_POLICY} in the policy pack config, or remove the connection."
    ]


def _config_name(d: OrgDirectory, key: str | None) -> str:
    names = d.names(key) if key is not None else []
    return names[0] if names else "<source org>"


def check_production(conn: Connection, settings: ProductionSettings) -> list[str]:
    """No connection from an org tagged production to an org tagged non-production."""
    d = settings.directory
    source, sink = d.source_key(conn), d.sink_key(conn)
    if source is None or sink is None:
        return []
    prod, nonprod = settings.production_tag, settings.non_production_tag
    if prod not in settings.tags(d, source) or nonprod not in settings.tags(d, sink):
        return []
    shared = ", ".join(conn.known_types()) or "data"
    return [
        f"[{PRODUCTION_POLICY}] {conn.label} would share {shared} of {d.describe(source)}, tagged "
        f"{prod}, with {d.describe(sink)}, tagged {nonprod}. Fix: point sink_org_id at an org that is "
        f"not tagged {nonprod}, remove the connection, or correct orgTags of policy "
        f"{PRODUCTION_POLICY} in the policy pack config."
    ]


def check_creator(conn: Connection, _settings: CreatorSettings) -> list[str]:
    """An existing connection was made by a service account (its `created_by_service_account`
    output); a person's connection is deleted by Datadog when that person's account is deactivated.

    Reads outputs: a connection not created yet, or whose creator's kind the API did not say,
    passes (nothing provable).
    """
    if conn.created_by_service_account is not False:
        return []
    who = conn.created_by if isinstance(conn.created_by, str) else "a person"
    return [
        f"[{CREATOR_POLICY}] {conn.label} was made by {who}, a person, not a service account: Datadog "
        "removes every connection a user made when that user's account is deactivated. Fix: set the "
        "stack's application key to a service account's (datadog:appKey, or orgConnections:orgs.<alias>.appKey), "
        f"then recreate the connection with it: `pulumi up --replace <urn of {conn.name}>` (data stops "
        "flowing for the seconds between the delete and the create)."
    ]

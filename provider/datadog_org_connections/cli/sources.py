"""The two sides that ``reconcile`` and ``graph`` compare: stack exports and the API.

- **Declared**: ``pulumi stack export`` documents. Each ``OrgConnection`` resource's id and outputs
  (``source_org_id``, ``sink_org_id``, ``connection_types``, ``source_org``, ``adopted``), and the
  creates an interrupted ``pulumi up`` left pending. Nothing else of the export is read: never the
  provider resources (they hold the stack's keys, encrypted).
- **Actual**: what the API lists through one or more orgs' keys. Each org's keys see the
  connections that org takes part in, as source or sink, and no others: a parent org's keys do
  not see its children's connections. The keys come from the environment (``DD_API_KEY``...),
  from ``--org ALIAS`` (``DD_API_KEY_<ALIAS>`` / ``DD_APP_KEY_<ALIAS>``), or from the output of
  ``pulumi config --show-secrets --json`` (``datadog:apiKey``... and ``orgConnections:orgs``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from ..client import OrgConnectionsClient
from ..errors import ConfigurationError
from ..models import Connection
from ..settings import API_KEY_ENV, APP_KEY_ENV, Credentials, KeySources, resolve_credentials
from ..stack_config import ORGS_KEY, StackConfig
from .views import CurrentOrg, current_org

__all__ = [
    "ORG_CONNECTION_TYPE",
    "Actual",
    "Declared",
    "InputError",
    "KeySet",
    "OrgView",
    "PendingCreate",
    "Refused",
    "StackConfigDoc",
    "StackExport",
    "fetch_view",
    "key_sets",
    "read_export",
    "read_stack_config",
    "urn_parts",
]

#: The type of our resource in a stack's state.
ORG_CONNECTION_TYPE = "pulumi-python:dynamic/datadog:OrgConnection"
#: The key Pulumi marks a secret value with in a state document.
SECRET_SIG = "4dabf18193072939515e22adb298388d"

_SHOW_SECRETS = (
    "export it with `pulumi stack export --show-secrets` and pipe it in (`... | dd-org-connections "
    "reconcile -`): that export holds the stack's secrets in clear, so keep it out of files"
)


class InputError(Exception):
    """A stack export or stack config that cannot be used (reported with exit status 2)."""


class _Encrypted(Exception):
    pass


def _plain(value: Any) -> Any:
    """A state value with Pulumi's secret wrapper removed; :class:`_Encrypted` if it is ciphertext."""
    if isinstance(value, Mapping) and SECRET_SIG in value:
        if "plaintext" in value and isinstance(value["plaintext"], str):
            return json.loads(value["plaintext"])
        raise _Encrypted
    return value


# ------------------------------------------------------------------------------ stack exports


@dataclass(frozen=True)
class Declared:
    """One ``OrgConnection`` of a stack's state."""

    id: str
    stack: str
    name: str
    urn: str
    source_org_id: str
    sink_org_id: str
    connection_types: tuple[str, ...]
    source_org: str | None  # the org alias (None: the stack's own keys)
    adopted: str | None
    source_org_name: str = ""
    sink_org_name: str = ""
    #: Deleted by the engine already (delete-before-replace), its replacement not created yet.
    pending_replacement: bool = False


@dataclass(frozen=True)
class PendingCreate:
    """A create an interrupted ``pulumi up`` left pending: the connection may exist or not.

    The same shape describes a create ``pulumi preview`` plans (:mod:`.repair`): a resource the
    program declares and the state lacks.
    """

    stack: str
    name: str
    urn: str
    source_org: str | None
    sink_org_id: str | None
    #: The id the provider answered, when the engine recorded it in the pending operation before
    #: the kill (the connection is then known exactly, not only by its pair).
    conn_id: str | None = None


@dataclass(frozen=True)
class StackExport:
    """What one ``pulumi stack export`` document declares."""

    label: str  # project/stack, from the URNs (the file name when there is no resource)
    declared: tuple[Declared, ...]
    #: Interrupted creates of resources the state does not hold (those it holds since are left out).
    pending: tuple[PendingCreate, ...]
    names: frozenset[str]  # resource names of every OrgConnection, pending ones included
    #: Pending create operations of any resource in the export (what `--clear-pending-creates` drops).
    pending_creates: int = 0
    #: Of those, the creates of resources of other types (other providers' resources).
    pending_others: int = 0


def urn_parts(urn: str) -> tuple[str, str]:
    """``(project/stack, resource name)`` of ``urn:pulumi:STACK::PROJECT::TYPE::NAME``."""
    parts = urn.split("::")
    if len(parts) < 4 or not parts[0].startswith("urn:pulumi:"):
        return "", parts[-1]
    return f"{parts[1]}/{parts[0].removeprefix('urn:pulumi:')}", parts[-1]


def _declared(res: Mapping[str, Any], where: str) -> Declared | None:
    urn = str(res.get("urn") or "")
    stack, name = urn_parts(urn)
    conn_id = res.get("id")
    if not isinstance(conn_id, str) or not conn_id:
        return None  # not created (a failed create leaves no id)
    outputs = res.get("outputs") or {}
    values: dict[str, Any] = {}
    for key in ("source_org_id", "sink_org_id", "connection_types", "source_org", "adopted",
                "source_org_name", "sink_org_name"):  # fmt: skip
        try:
            values[key] = _plain(outputs.get(key))
        except _Encrypted:
            if key in ("source_org_id", "sink_org_id", "connection_types"):
                raise InputError(
                    f"{where}: output {key} of {name} is encrypted in this export: {_SHOW_SECRETS}"
                ) from None
            values[key] = None
    for key in ("source_org_id", "sink_org_id"):
        if not isinstance(values[key], str) or not values[key]:
            raise InputError(
                f"{where}: {name} has no output {key}: its state predates this version of the "
                "package; run `pulumi refresh` on that stack, export it again"
            )
    types = values["connection_types"]
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise InputError(f"{where}: {name} has no list output connection_types")
    return Declared(
        id=conn_id.lower(),
        stack=stack,
        name=name,
        urn=urn,
        source_org_id=values["source_org_id"].lower(),
        sink_org_id=values["sink_org_id"].lower(),
        connection_types=tuple(sorted(types)),
        source_org=values["source_org"] if isinstance(values["source_org"], str) else None,
        adopted=values["adopted"] if isinstance(values["adopted"], str) else None,
        source_org_name=values["source_org_name"] if isinstance(values["source_org_name"], str) else "",
        sink_org_name=values["sink_org_name"] if isinstance(values["sink_org_name"], str) else "",
        pending_replacement=bool(res.get("pendingReplacement")),
    )


def _pending(op: Mapping[str, Any]) -> PendingCreate | None:
    res = op.get("resource")
    if op.get("type") != "creating" or not isinstance(res, Mapping) or res.get("type") != ORG_CONNECTION_TYPE:
        return None
    urn = str(res.get("urn") or "")
    stack, name = urn_parts(urn)
    inputs = res.get("inputs") or {}
    try:
        alias, sink = _plain(inputs.get("source_org")), _plain(inputs.get("sink_org_id"))
    except _Encrypted:
        alias, sink = None, None
    conn_id = res.get("id")
    return PendingCreate(
        stack,
        name,
        urn,
        alias if isinstance(alias, str) else None,
        sink.lower() if isinstance(sink, str) else None,
        conn_id.lower() if isinstance(conn_id, str) and conn_id else None,
    )


def read_export(stream: IO[str], label: str) -> StackExport:
    """Parse one ``pulumi stack export`` document (``label``: where it came from, for messages)."""
    try:
        doc = json.load(stream)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{label}: not JSON ({exc}): give the output of `pulumi stack export`") from None
    deployment = doc.get("deployment") if isinstance(doc, Mapping) else None
    if not isinstance(deployment, Mapping) or "version" not in doc:
        raise InputError(f"{label}: not a `pulumi stack export` document (no version and deployment)")
    resources = [r for r in deployment.get("resources") or [] if isinstance(r, Mapping)]
    try:
        declared = [_declared(r, label) for r in resources if r.get("type") == ORG_CONNECTION_TYPE]
    except ValueError as exc:  # a plaintext secret that is not JSON
        raise InputError(f"{label}: unreadable secret value ({exc})") from None
    operations = [op for op in deployment.get("pending_operations") or [] if isinstance(op, Mapping)]
    found = [d for d in declared if d is not None]
    # Created since (and not deleted by a replacement waiting for its create): the pending create is stale.
    held = {d.urn for d in found if not d.pending_replacement}
    pending = [p for p in map(_pending, operations) if p is not None and p.urn not in held]
    stacks = {urn_parts(str(r.get("urn") or ""))[0] for r in resources} | {p.stack for p in pending}
    stacks -= {""}
    names = {d.name for d in found} | {p.name for p in pending}
    names |= {urn_parts(str(r.get("urn")))[1] for r in resources if r.get("type") == ORG_CONNECTION_TYPE}
    return StackExport(
        label=sorted(stacks)[0] if len(stacks) == 1 else label,
        declared=tuple(found),
        pending=tuple(pending),
        names=frozenset(names),
        pending_creates=sum(op.get("type") == "creating" for op in operations),
        pending_others=sum(
            op.get("type") == "creating" and _op_type(op) != ORG_CONNECTION_TYPE for op in operations
        ),
    )


def _op_type(op: Mapping[str, Any]) -> object:
    res = op.get("resource")
    return res.get("type") if isinstance(res, Mapping) else None


# ---------------------------------------------------------------------------------- key sets


@dataclass(frozen=True, repr=False)
class KeySet:
    """One org's keys and where they came from (``label`` never holds a key)."""

    label: str
    #: The stack alias these keys stand for (``None``: a stack's own keys, or the environment's).
    alias: str | None
    credentials: Credentials
    #: The stack (``project/stack``) whose configuration gave these keys, when known.
    stack: str | None = None


def alias_env(alias: str) -> tuple[str, str]:
    """The variables holding ``--org ALIAS``'s keys: ``DD_API_KEY_SPOKE_EU`` for ``spoke-eu``."""
    suffix = re.sub(r"[^A-Z0-9]", "_", alias.upper())
    return f"DD_API_KEY_{suffix}", f"DD_APP_KEY_{suffix}"


@dataclass
class KeyOptions:
    """The command's key sources: global flags, ``--org`` aliases, a ``--stack-config`` document."""

    api_key: str | None
    app_key: str | None
    api_url: str | None
    site: str | None
    sources: KeySources
    orgs: Sequence[str] = ()
    stack_config: tuple[IO[str], str] | None = None  # (stream, label)
    secrets: list[str] = field(default_factory=list)  # every key read, for redaction
    configs: Sequence[StackConfigDoc] = ()  # stack configurations already read


def _env_has_keys(opts: KeyOptions, env: Mapping[str, str]) -> bool:
    names = (*API_KEY_ENV, *APP_KEY_ENV)
    return bool(opts.api_key or opts.app_key or any((env.get(n) or "").strip() for n in names))


@dataclass(frozen=True, repr=False)
class StackConfigDoc:
    """One stack's configuration (``pulumi config --show-secrets --json``): its values by key."""

    label: str  # where it came from, for messages (never a value)
    raw: Mapping[str, Any]
    #: The stack (``project/stack``) it is the configuration of, when known.
    stack: str | None = None


def read_stack_config(stream: IO[str], label: str, stack: str | None = None) -> StackConfigDoc:
    """Parse the output of ``pulumi config --show-secrets --json`` (:class:`InputError` if unusable)."""
    return StackConfigDoc(label, _stack_config_raw(stream.read(), label), stack)


def _stack_config_raw(text: str, label: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{label}: not JSON ({exc}): give the output of `pulumi config --show-secrets --json`"
        ) from None
    if not isinstance(doc, Mapping) or not all(isinstance(v, Mapping) for v in doc.values()):
        raise InputError(f"{label}: not the output of `pulumi config --show-secrets --json`")
    raw: dict[str, Any] = {}
    for key, entry in doc.items():
        if "objectValue" in entry:
            raw[key] = entry["objectValue"]
        elif "value" in entry:
            raw[key] = entry["value"]
        elif entry.get("secret"):
            raise InputError(
                f"{label}: {key} is a secret this output does not show: use `pulumi config --show-secrets "
                f"--json` (piped in, not saved to a file: it holds the keys in clear)"
            )
    return raw


def key_sets(opts: KeyOptions, *, required: bool, env: Mapping[str, str] = os.environ) -> list[KeySet]:
    """Every key set the options name, resolved; ``[]`` only when none is given and not ``required``.

    Raises ``ConfigurationError`` (missing or malformed keys, naming where they were looked for)
    or :class:`InputError` (an unusable ``--stack-config`` document).
    """
    sets: list[KeySet] = []
    if _env_has_keys(opts, env) or (
        required and not opts.orgs and opts.stack_config is None and not opts.configs
    ):
        creds = resolve_credentials(opts.api_key, opts.app_key, opts.api_url, opts.site, env, opts.sources)
        sets.append(KeySet("the keys of DD_API_KEY / DD_APP_KEY", None, creds))
    for alias in opts.orgs:
        api_var, app_var = alias_env(alias)
        api, app = (env.get(api_var) or "").strip(), (env.get(app_var) or "").strip()
        if not api or not app:
            missing = " and ".join(v for v, k in ((api_var, api), (app_var, app)) if not k)
            raise ConfigurationError(f"--org {alias}: set {missing} to that org's keys", setting="keys")
        creds = resolve_credentials(api, app, opts.api_url, opts.site, env, opts.sources)
        sets.append(KeySet(f"--org {alias} ({api_var} / {app_var})", alias, creds))
    docs = list(opts.configs)
    if opts.stack_config is not None:
        stream, label = opts.stack_config
        docs.append(read_stack_config(stream, label))
    for doc in docs:
        config = StackConfig(doc.raw, env=env)
        label, raw = doc.label, doc.raw
        if raw.get("datadog:apiKey") or raw.get("datadog:appKey"):
            creds = config.credentials(None)
            sets.append(KeySet(f"{label}: datadog:apiKey / datadog:appKey", None, creds, doc.stack))
        for alias in config.aliases:
            sets.append(KeySet(f"{label}: {ORGS_KEY}.{alias}", alias, config.credentials(alias), doc.stack))
        if config.error is not None:
            raise config.error
    opts.secrets.extend(s for ks in sets for s in (ks.credentials.api_key, ks.credentials.app_key))
    return sets


# ---------------------------------------------------------------------------------- the API side


@dataclass
class OrgView:
    """The API as one key set sees it."""

    keys: KeySet
    client: OrgConnectionsClient
    org: CurrentOrg
    connections: tuple[Connection, ...]


def fetch_view(keys: KeySet, timeout: float, max_attempts: int) -> OrgView:
    """List the connections ``keys`` see and which org they belong to (``org.id`` None: unknown)."""
    client = OrgConnectionsClient(keys.credentials, timeout=(5.0, timeout), max_attempts=max_attempts)
    try:
        conns = client.list_connections()
        org = current_org(client, conns)
    except BaseException:
        client.close()
        raise
    return OrgView(keys, client, org, tuple(conns))


@dataclass(frozen=True)
class Refused:
    """A key set whose org could not be read: the API refused the keys (401/403), or (where the
    command needs it) which org they belong to cannot be told. Reported like missing keys."""

    keys: KeySet
    reason: str  # one line, redacted: what the API answered
    exit_code: int  # the status the command exits with when no key set could be used at all


@dataclass
class Actual:
    """The API through every key set given: connections by id, the orgs covered, org names;
    ``refused``: the key sets that could not be used (their orgs are not covered)."""

    views: list[OrgView]
    refused: list[Refused] = field(default_factory=list)
    connections: dict[str, Connection] = field(default_factory=dict)
    seen_by: dict[str, OrgView] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for view in self.views:
            if view.org.id is not None:
                self.names.setdefault(view.org.id.lower(), view.org.name)
            for org in view.org.orgs:
                self.names.setdefault(org.id.lower(), org.name)
            for conn in view.connections:
                self.connections.setdefault(conn.id.lower(), conn)
                self.seen_by.setdefault(conn.id.lower(), view)
                self.names.setdefault(conn.source_org_id.lower(), conn.source_org_name)
                self.names.setdefault(conn.sink_org_id.lower(), conn.sink_org_name)

    @property
    def covered(self) -> set[str]:
        """Ids of the orgs whose keys were given: every connection of theirs is listed."""
        return {v.org.id.lower() for v in self.views if v.org.id is not None}

    def aliases(self, stack: str | None = None) -> list[tuple[str | None, str]]:
        """``(alias, org id)`` of every key set whose org is known, in the order given; with
        ``stack``, the key sets of that stack's configuration first (its own keys are alias None)."""
        known = [v for v in self.views if v.org.id is not None]
        if stack is not None:
            known.sort(key=lambda v: v.keys.stack != stack)
        return [(v.keys.alias, v.org.id.lower()) for v in known if v.org.id is not None]

    def close(self) -> None:
        """Close every client."""
        for view in self.views:
            view.client.close()


def org_names(declared: Iterable[Declared], actual: Actual | None) -> dict[str, str]:
    """Org id -> name, from the API first, then from the stacks' outputs."""
    names = dict(actual.names) if actual is not None else {}
    for d in declared:
        if d.source_org_name:
            names.setdefault(d.source_org_id, d.source_org_name)
        if d.sink_org_name:
            names.setdefault(d.sink_org_id, d.sink_org_name)
    return {k: v for k, v in names.items() if v}

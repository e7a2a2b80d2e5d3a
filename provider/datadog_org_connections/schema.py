"""The inputs of `OrgConnection`, declared once: `check`, `diff`, `update` and the outputs read this table.

Each input says how to validate and normalise a value, how to compare an old and a new value, and
what a change does, in the manner of a Terraform schema:

- ``replace``: the connection joins other orgs: delete it and create another (delete first, see
  `OrgConnectionProvider.diff`);
- ``update``: one PATCH of the connection;
- ``state``: recorded in the state only, no API call (flags about how `create` behaves).

Values not known yet at preview (outputs of other resources) are neither validated nor compared:
they count as changed and are checked again when known.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pulumi.dynamic import CheckFailure
from pulumi.output import Unknown
from pulumi.runtime.rpc import UNKNOWN

from .models import CONNECTION_TYPES, UUID_RE
from .stack_config import StackConfig

__all__ = [
    "INPUTS",
    "OUTPUTS",
    "OWNER_INPUT",
    "SECRETS_INPUT",
    "Input",
    "changed_inputs",
    "check_inputs",
    "is_unknown",
    "secret_values",
]


Effect = Literal["replace", "update", "state"]


class Invalid(ValueError):
    """A value an input refuses; the message is the whole reason shown to the user."""


def is_unknown(value: Any) -> bool:
    """A value not known yet at preview: the servicer passes `pulumi.output.Unknown` (or the sentinel)."""
    if isinstance(value, Unknown) or (isinstance(value, str) and value == UNKNOWN):
        return True
    return isinstance(value, list) and any(is_unknown(v) for v in value)


# --- validators: value (never None, never unknown) -> normalised value, or Invalid -------------


def _sink(value: Any, _config: StackConfig) -> str:
    if not isinstance(value, str):
        raise Invalid(f"sink_org_id must be a UUID string, got {type(value).__name__} {value!r}")
    if not value.strip():
        raise Invalid("sink_org_id is required: the UUID of the org receiving the data")
    if not UUID_RE.match(value.strip()):
        raise Invalid(
            f"sink_org_id {value!r} is not a UUID (like 83999dcd-7f97-11f0-8de1-1ecf66f1aa85): take the "
            "org's UUID from `dd-org-connections orgs`, not its name or public id"
        )
    return value.strip().lower()


def _types(value: Any, _config: StackConfig) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise Invalid(f"connection_types must be a list such as ['logs'], got {value!r}")
    if not value:
        raise Invalid(f"connection_types must not be empty: some of {CONNECTION_TYPES}")
    bad = [t for t in value if not isinstance(t, str) or t not in CONNECTION_TYPES]
    if bad:
        raise Invalid(f"connection_types has unknown value(s) {bad!r}: allowed are {list(CONNECTION_TYPES)}")
    dupes = sorted({t for t in value if list(value).count(t) > 1})
    if dupes:
        raise Invalid(f"connection_types repeats {dupes!r}: list each type once")
    return sorted(value)


def _alias(value: Any, config: StackConfig) -> str:
    if not isinstance(value, str) or not value:
        raise Invalid(f"source_org must be an org alias string, got {value!r}")
    if config.error is not None:
        raise Invalid(str(config.error))
    if not config.has_alias(value):
        raise Invalid(config.unknown_alias_text(value))
    return value


def _flag(name: str) -> Callable[[Any, StackConfig], bool]:
    def check(value: Any, _config: StackConfig) -> bool:
        if not isinstance(value, bool):
            raise Invalid(f"{name} must be True or False, got {value!r}")
        return value

    return check


def _text(name: str) -> Callable[[Any, StackConfig], str]:
    def check(value: Any, _config: StackConfig) -> str:
        if not isinstance(value, str):
            raise Invalid(f"{name} must be a string, got {value!r}")
        return value

    return check


def _names(name: str) -> Callable[[Any, StackConfig], list[str]]:
    def check(value: Any, _config: StackConfig) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise Invalid(f"{name} must be a list of input names, got {value!r}")
        return sorted(value)

    return check


def _adopt_id(value: Any, _config: StackConfig) -> str:
    if not isinstance(value, str) or not UUID_RE.match(value):
        raise Invalid(f"adopt_id must be a connection id (a UUID), got {value!r}")
    return value.lower()


@dataclass(frozen=True)
class Input:
    """One input of the resource: how it is checked, compared, and what a change does."""

    name: str
    effect: Effect
    validate: Callable[[Any, StackConfig], Any]
    required: str | None = None  # the reason shown when the input is missing; None: optional
    #: How two values compare in `diff` (old outputs hold the normalised form).
    canonical: Callable[[Any], Any] = lambda v: v if v not in ("", None) else None
    internal: bool = False  # set by `OrgConnection` itself, not an argument users pass


INPUTS: tuple[Input, ...] = (
    Input(
        "sink_org_id",
        "replace",
        _sink,
        required="sink_org_id is required: the UUID of the org receiving the data",
        canonical=lambda v: v.strip().lower() if isinstance(v, str) and v.strip() else None,
    ),
    Input(
        "connection_types",
        "update",
        _types,
        required=f"connection_types is required: some of {CONNECTION_TYPES}",
        canonical=lambda v: sorted(v) if isinstance(v, list) else v,
    ),
    Input("source_org", "replace", _alias),
    Input("adopt_existing", "state", _flag("adopt_existing"), canonical=bool),
    Input("adopt_id", "state", _adopt_id),
    Input("validate_sink", "state", _flag("validate_sink"), canonical=lambda v: v is not False),
    # "<project>/<stack>/<resource name>" of the resource that declares the connection: the journal
    # of creates is kept per resource, so that only the resource whose create was interrupted gets
    # its connection back (never another stack, nor a renamed or second resource), and a pair
    # declared twice in one deployment names both resources. Never a change; `__` keeps it out of
    # `pulumi preview --diff` (the CLI hides keys starting with two underscores).
    Input("__owner", "state", _text("__owner"), canonical=lambda _v: None, internal=True),
    # The names of the inputs the program passed as secrets (the provider host receives them in
    # clear): error messages mask their values, and outputs derived from them are stored as secrets.
    Input("__secrets", "state", _names("__secrets"), canonical=lambda _v: None, internal=True),
)

#: The internal input naming the declaring resource (set by `OrgConnection`).
OWNER_INPUT = "__owner"

#: The internal input listing the inputs passed as secrets (set by `OrgConnection`).
SECRETS_INPUT = "__secrets"

#: What the API says of a connection, added to the inputs in the outputs.
OUTPUTS: tuple[str, ...] = (
    "source_org_id",
    "source_org_name",
    "sink_org_name",
    "created_at",
    "created_by",
    "created_by_id",
    "created_by_service_account",
    "adopted",
)

BY_NAME: Mapping[str, Input] = {i.name: i for i in INPUTS}


def check_inputs(news: Mapping[str, Any], config: StackConfig) -> tuple[dict[str, Any], list[CheckFailure]]:
    """Validate and normalise the inputs offline; return (inputs, failures naming the property)."""
    inputs = {i.name: news[i.name] for i in INPUTS if i.name in news}
    failures: list[CheckFailure] = []
    for spec in INPUTS:
        value = news.get(spec.name)
        if value is None or (value == "" and spec.required):
            if spec.required:
                failures.append(CheckFailure(spec.name, spec.required))
            continue
        if is_unknown(value):
            continue
        try:
            inputs[spec.name] = spec.validate(value, config)
        except Invalid as exc:
            failures.append(CheckFailure(spec.name, str(exc)))
    if (
        news.get("adopt_id")
        and news.get("adopt_existing")
        and not any(f.property == "adopt_id" for f in failures)
    ):
        failures.append(CheckFailure("adopt_id", "set adopt_id or adopt_existing=True, not both"))
    return inputs, failures


def changed_inputs(olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[Input]:
    """The inputs whose new value differs from the old one (unknown new values count as changed)."""
    return [
        spec
        for spec in INPUTS
        if is_unknown(news.get(spec.name))
        or spec.canonical(news.get(spec.name)) != spec.canonical(olds.get(spec.name))
    ]


#: Outputs that reveal a secret input (the sink's name reveals the sink).
DERIVED_SECRETS: Mapping[str, tuple[str, ...]] = {"sink_org_id": ("sink_org_name",)}


def secret_values(props: Mapping[str, Any]) -> list[str]:
    """The values of the inputs `props` names as secrets, and of the outputs derived from them (to mask
    in messages)."""
    names = props.get(SECRETS_INPUT)
    if not isinstance(names, list):
        return []
    keys = [k for n in names if isinstance(n, str) for k in (n, *DERIVED_SECRETS.get(n, ()))]
    return [props[k] for k in keys if isinstance(props.get(k), str) and props[k]]

"""`OrgConnection`: the Pulumi resource users declare in the stack of a source org.

    from datadog_org_connections import OrgConnection, OrgConnectionArgs

    hub = pulumi.StackReference("organization/hub/prod")
    OrgConnection("to-hub", sink_org_id=hub.get_output("org_id"), connection_types=["logs", "metrics"])
    OrgConnection("to-hub", OrgConnectionArgs(sink_org_id=..., connection_types=["logs"]), opts)
    OrgConnection.get("existing", "<connection id>")      # read one, without managing it

The inputs keep the names of `pulumi_datadog.OrgConnection` (`sink_org_id`, `connection_types`), and
the constructor takes either an args object or keyword arguments, as Pulumi's generated SDKs do, so
switching from the bridged resource is an import change (docs/migrating-from-pulumi-datadog.md).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, overload

import pulumi
from pulumi.dynamic import Resource
from pulumi.dynamic.dynamic import serialize_provider

from .journal import settle_held
from .provider import OrgConnectionProvider
from .schema import INPUTS, OUTPUTS, OWNER_INPUT, SECRETS_INPUT
from .sdk_pickler import sdk_pickler_restored

PROVIDER_KEY = "__provider"
"""The input holding the serialized provider (`pulumi.dynamic`'s reserved property)."""


@functools.cache
def _serialized_provider() -> str:
    """The provider as `pulumi.dynamic` serializes it (dill), once per program: the object is empty
    (no keys, no Outputs: never a secret), so every resource carries the same bytes."""
    with sdk_pickler_restored():  # see sdk_pickler.py
        return str(serialize_provider(OrgConnectionProvider()))


def _refuse_import(resource_name: str, opts: pulumi.ResourceOptions | None) -> None:
    """`import_` cannot work for dynamic resources (the engine's import read carries no provider,
    pulumi/pulumi#16175): say what does, in one line, before the engine fails obscurely."""
    if opts is not None and getattr(opts, "import_", None):
        raise pulumi.RunError(
            f"OrgConnection({resource_name!r}): ResourceOptions(import_=...) does not work for this dynamic "
            f"resource; to take over connection {opts.import_} pass adopt_id={opts.import_!r} instead (it adopts "
            "at create: no POST), or read it without managing it with OrgConnection.get(name, id)"
        )


def _secret_input_names(props: dict[str, Any]) -> pulumi.Output[list[str]]:
    """The names of the inputs passed as secret Outputs: the provider host receives every input in clear,
    so it is told which to mask in messages and which derived outputs to store as secrets."""

    outputs = [(name, value) for name, value in props.items() if isinstance(value, pulumi.Output)]

    async def names() -> list[str]:
        return [name for name, value in outputs if await value.is_secret()]

    return pulumi.Output.from_input(names())


def _settle_journal(conn_id: str | None) -> None:
    """The engine handed the program this resource's id: it answers a registration only after writing
    the checkpoint that holds it, so the journal of creates may forget the id (journal.py). Not when
    checkpoints are skipped (PULUMI_SKIP_CHECKPOINTS): the state is written only at the end then."""
    if conn_id and os.environ.get("PULUMI_SKIP_CHECKPOINTS", "").lower() not in ("1", "true"):
        with contextlib.suppress(OSError):
            settle_held(conn_id)


# From the one declaration of the inputs and outputs (schema.py).
REQUIRED_INPUTS = tuple(spec.name for spec in INPUTS if spec.required)
OPTIONAL_INPUTS = tuple(spec.name for spec in INPUTS if not spec.required and not spec.internal)


@dataclass(kw_only=True)
class OrgConnectionArgs:
    """The inputs of an `OrgConnection`: `OrgConnection(name, OrgConnectionArgs(...), opts)`.

    :param sink_org_id: UUID of the org receiving the data (`dd-org-connections orgs` lists them).
    :param connection_types: non-empty list of distinct types among `logs`, `metrics`, `audit`.
    :param source_org: alias of the source org, for stacks managing several orgs (keys in stack
        config `orgConnections:orgs.<alias>`). Default: the stack's own org.
    :param adopt_existing: take over the pair's existing connection instead of failing on a conflict.
    :param adopt_id: take over exactly this existing connection (by id) instead of creating one.
    :param validate_sink: check at preview that the sink is an org of the account (default True).
    """

    sink_org_id: pulumi.Input[str]
    connection_types: pulumi.Input[Sequence[pulumi.Input[str]]]
    source_org: pulumi.Input[str] | None = None
    adopt_existing: pulumi.Input[bool] | None = None
    adopt_id: pulumi.Input[str] | None = None
    validate_sink: pulumi.Input[bool] | None = None


class _RequiredArgsDict(TypedDict):
    sink_org_id: pulumi.Input[str]
    connection_types: pulumi.Input[Sequence[pulumi.Input[str]]]


class OrgConnectionArgsDict(_RequiredArgsDict, total=False):
    """The inputs of an `OrgConnection` as a typed dict: `OrgConnection(name, {...})` or `OrgConnection(name, **d)`.

    Keys as in `OrgConnectionArgs`; `sink_org_id` and `connection_types` are required.
    """

    source_org: pulumi.Input[str] | None
    adopt_existing: pulumi.Input[bool] | None
    adopt_id: pulumi.Input[str] | None
    validate_sink: pulumi.Input[bool] | None


_INPUTS = REQUIRED_INPUTS + OPTIONAL_INPUTS


def _inputs_from_mapping(resource_name: str, given: Mapping[str, Any], what: str) -> dict[str, Any]:
    """The six inputs from keyword arguments or an args dict; TypeError naming unknown or missing ones."""
    unknown = sorted(set(given) - set(_INPUTS))
    if unknown:
        raise TypeError(
            f"OrgConnection({resource_name!r}): unexpected {what} {', '.join(unknown)}; "
            f"the inputs are {', '.join(_INPUTS)} (and opts)"
        )
    missing = [name for name in REQUIRED_INPUTS if given.get(name) is None]
    if missing:
        raise TypeError(
            f"OrgConnection({resource_name!r}): missing required input(s) {', '.join(missing)}: pass "
            "OrgConnectionArgs(sink_org_id=..., connection_types=[...]) or the keyword arguments "
            "sink_org_id=... and connection_types=[...]"
        )
    return {name: given.get(name) for name in _INPUTS}


def _resolve_args(
    resource_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[dict[str, Any], pulumi.ResourceOptions | None]:
    """Mirror `_utilities.get_resource_args_opts` of generated SDKs: (args object | keywords, opts).

    Accepted: `(name, args, opts=None)` with an `OrgConnectionArgs` or `OrgConnectionArgsDict` (also as
    `args=`), or `(name, opts=None, **inputs)`. Anything else is a TypeError that says which form to use.
    """
    kwargs = dict(kwargs)
    rest = list(args)
    resource_args: Any = None
    if rest and isinstance(rest[0], (OrgConnectionArgs, Mapping)):
        resource_args = rest.pop(0)
    if "args" in kwargs:
        if resource_args is not None:
            raise TypeError(f"OrgConnection({resource_name!r}): args given twice (positionally and as args=)")
        resource_args = kwargs.pop("args")
        if not isinstance(resource_args, (OrgConnectionArgs, Mapping)):
            raise TypeError(
                f"OrgConnection({resource_name!r}): args must be an OrgConnectionArgs or an "
                f"OrgConnectionArgsDict, got {type(resource_args).__name__}"
            )
    opts = rest.pop(0) if rest else None
    if rest or (opts is not None and not isinstance(opts, pulumi.ResourceOptions)):
        raise TypeError(
            f"OrgConnection({resource_name!r}): after the name, pass an OrgConnectionArgs (or "
            "OrgConnectionArgsDict) and/or a pulumi.ResourceOptions; give the inputs as keyword arguments "
            f"(got positional {', '.join(type(a).__name__ for a in args)})"
        )
    if "opts" in kwargs:
        if opts is not None:
            raise TypeError(f"OrgConnection({resource_name!r}): opts given twice (positionally and as opts=)")
        opts = kwargs.pop("opts")
        if opts is not None and not isinstance(opts, pulumi.ResourceOptions):
            raise TypeError(
                f"OrgConnection({resource_name!r}): opts must be a pulumi.ResourceOptions, got {type(opts).__name__}"
            )
    if resource_args is None:
        return _inputs_from_mapping(resource_name, kwargs, "keyword argument(s)"), opts
    if kwargs:
        raise TypeError(
            f"OrgConnection({resource_name!r}): give the inputs either as args (OrgConnectionArgs) or as "
            f"keyword arguments, not both (got args and {', '.join(sorted(kwargs))})"
        )
    if isinstance(resource_args, OrgConnectionArgs):
        return {name: getattr(resource_args, name) for name in _INPUTS}, opts
    return _inputs_from_mapping(resource_name, resource_args, "key(s) in args"), opts


class OrgConnection(Resource, module="datadog", name="OrgConnection"):
    """A connection that shares a source org's data (logs, metrics, audit) with a sink org.

    The source org is the org whose keys the stack uses (`datadog:apiKey` / `datadog:appKey`), or the
    org alias named by `source_org` (keys under `orgConnections:orgs.<alias>` in stack config).
    Changing `sink_org_id` or `source_org` replaces the connection; changing `connection_types`
    updates it in place; reordering the types changes nothing.
    """

    sink_org_id: pulumi.Output[str]
    """UUID of the org that receives the data."""
    connection_types: pulumi.Output[list[str]]
    """The shared data, sorted: some of `audit`, `logs`, `metrics`."""
    source_org: pulumi.Output[str | None]
    """The org alias whose keys created the connection (None: the stack's own org)."""
    source_org_id: pulumi.Output[str]
    """UUID of the org that shares its data."""
    source_org_name: pulumi.Output[str]
    """Name of the source org."""
    sink_org_name: pulumi.Output[str]
    """Name of the sink org."""
    created_at: pulumi.Output[str]
    """When the connection was made (RFC 3339)."""
    created_by: pulumi.Output[str]
    """The user who made the connection (name, or id when the API gives no name)."""
    created_by_id: pulumi.Output[str]
    """UUID of the user who made the connection."""
    created_by_service_account: pulumi.Output[bool | None]
    """Whether the user who made the connection is a service account: True, False (a person: Datadog
    deletes the connection when that person's account is deactivated), or None (unknown: the API did
    not say). From the keys that created it, and from the connection list at refresh."""
    adopted: pulumi.Output[str | None]
    """How this resource took the connection over: None (it created it), "existing" (adopt_existing),
    "id" (adopt_id), "earlier-create" (made by an earlier `pulumi up` of this same resource, on this
    machine, killed before the engine recorded it), "config" (named for this resource in stack config
    `orgConnections:adopt`, as `dd-org-connections reconcile` prints after an interrupted run)."""
    adopt_existing: pulumi.Output[bool | None]
    adopt_id: pulumi.Output[str | None]
    validate_sink: pulumi.Output[bool | None]

    @overload
    def __init__(
        self,
        resource_name: str,
        args: OrgConnectionArgs | OrgConnectionArgsDict,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        resource_name: str,
        opts: pulumi.ResourceOptions | None = None,
        *,
        sink_org_id: pulumi.Input[str],
        connection_types: pulumi.Input[Sequence[pulumi.Input[str]]],
        source_org: pulumi.Input[str] | None = None,
        adopt_existing: pulumi.Input[bool] | None = None,
        adopt_id: pulumi.Input[str] | None = None,
        validate_sink: pulumi.Input[bool] | None = None,
    ) -> None: ...

    def __init__(self, resource_name: str, *args: Any, **kwargs: Any) -> None:
        """Declare a connection from the source org to `sink_org_id`.

        Either `OrgConnection(name, OrgConnectionArgs(...), opts)` (or an `OrgConnectionArgsDict`), or
        `OrgConnection(name, opts, sink_org_id=..., connection_types=[...], ...)`; see
        `OrgConnectionArgs` for the inputs. `adopt_id` takes over an existing connection by id (upstream
        `import_` does not work for dynamic resources; `dd-org-connections export` writes the code).
        """
        read_inputs = kwargs.pop("__props__", None)  # from get(), as in Pulumi's generated SDKs
        if read_inputs is not None:
            inputs, opts = read_inputs, kwargs.pop("opts", None)
        else:
            inputs, opts = _resolve_args(resource_name, args, kwargs)
            _refuse_import(resource_name, opts)
        props: dict[str, Any] = {name: inputs.get(name) for name in _INPUTS}
        # Which resource declares the connection: the journal of creates is kept per resource.
        props[OWNER_INPUT] = f"{pulumi.get_project()}/{pulumi.get_stack()}/{resource_name}"
        props[SECRETS_INPUT] = _secret_input_names(props)
        props.update(dict.fromkeys(OUTPUTS))  # outputs, known after create (or read)
        props[PROVIDER_KEY] = _serialized_provider()
        # What `pulumi.dynamic.Resource.__init__` does, minus its frame: the SDK takes the frames above
        # the third `__init__` on the stack (Resource, CustomResource, this one) as the resource's
        # `sourcePosition` and `stackTrace` in the state, so they start at the program's line, not ours.
        pulumi.CustomResource.__init__(
            self, f"pulumi-python:{self._resource_type_name}", resource_name, props, opts
        )
        if read_inputs is None:
            self.id.apply(_settle_journal)

    @classmethod
    def get(
        cls,
        resource_name: str,
        id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
        *,
        source_org: str | None = None,
    ) -> OrgConnection:
        """Read an existing connection into the program without managing it (`pulumi destroy` leaves it).

        The connection is read at every preview and up (one paged list of the source org's
        connections, matched by id); a connection id that the org cannot see fails the deployment
        with an error naming the id.

        :param resource_name: the Pulumi name of the resource.
        :param id: the connection id (a UUID; `dd-org-connections list` shows them).
        :param opts: the usual Pulumi resource options (`id` is set from the argument).
        :param source_org: org alias whose keys read the connection (stack config
            `orgConnections:orgs.<alias>`). Default: the stack's own org. The keys of either org of
            the connection (source or sink) can read it.
        """
        read_opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(id=id))
        construct: Any = cls  # `__props__` is the private path of get(), outside the typed overloads
        conn: OrgConnection = construct(resource_name, opts=read_opts, __props__={"source_org": source_org})
        return conn

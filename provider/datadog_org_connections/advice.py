"""What to do about an error: one table keyed by error class, read by the provider and the CLI.

`explain` turns a client error into the one line `pulumi up` shows: what failed, for which orgs,
why (the API's own text), and what to do. The fix comes from :data:`ADVICE`, the entry of the first
class along the error's hierarchy, which also gives the status `dd-org-connections` exits with. A
caller may override the fix for its situation (a refresh or destroy runs with the keys recorded in
the state, so a 403 there calls for other advice: :data:`STATE_KEYS_FIXES`).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .errors import (
    ConfigurationError,
    ConflictError,
    DatadogError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
    ResponseFormatError,
    ServerError,
    TransportError,
)

__all__ = [
    "ADVICE",
    "EXIT_API",
    "EXIT_CONFIG",
    "EXIT_FORBIDDEN",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_USAGE",
    "RECORDED_CONFIG",
    "STATE_KEYS_FIXES",
    "Advice",
    "Fixes",
    "OrgConnectionError",
    "advice_for",
    "explain",
    "fix_for",
    "hide_traceback_of_report",
    "mask",
    "org_label",
    "restore_traceback_limit",
]

#: Exit statuses of `dd-org-connections` (documented in docs/cli.md; scripts rely on them).
EXIT_OK, EXIT_API, EXIT_USAGE, EXIT_CONFIG, EXIT_NOT_FOUND, EXIT_FORBIDDEN = 0, 1, 2, 3, 4, 5


@dataclass(frozen=True)
class Advice:
    """What to do about one class of error: the fix `pulumi up` shows, the status the CLI exits with."""

    fix: str
    exit_code: int = EXIT_API


Fixes = Mapping[type[DatadogError], str]

ADVICE: Mapping[type[DatadogError], Advice] = {
    ConfigurationError: Advice(
        "fix the stack configuration named above, then run the command again", EXIT_CONFIG
    ),
    ForbiddenError: Advice(
        "check that the API and application keys belong to the source org and that the application key's "
        "user has the permission named above (org_connections_write to create, update and delete; "
        "org_connections_read to read; the older org_management grants both)",
        EXIT_FORBIDDEN,
    ),
    ConflictError: Advice(
        "if an earlier `pulumi up` of this stack was interrupted (Pulumi warned of pending operations above), "
        "`dd-org-connections reconcile --stack {stack}` in this project's directory prints the repair (no "
        "program edit, nothing deleted); if you renamed this resource, declare the old name so Pulumi moves it instead of making a new "
        'one: opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(name="<old name>")]) (for an edge of an '
        "OrgTopology you renamed, put the alias on the OrgTopology: its edges follow); if the connection "
        "was made by hand or by a tool no stack tracks, take it over with adopt_id='{existing_id}' (or "
        "adopt_existing=True), never while another stack manages it; `dd-org-connections reconcile` shows "
        "which stack holds which connection"
    ),
    NotFoundError: Advice(
        "check that sink_org_id is the UUID of an org in the same Datadog account and on the same site "
        "(dd-org-connections orgs, with the parent org's keys, lists them)",
        EXIT_NOT_FOUND,
    ),
    InvalidInputError: Advice(
        "check sink_org_id (not the source org itself) and connection_types (distinct logs/metrics/audit); "
        "an org without an Enterprise plan can share with at most 5 other orgs"
    ),
    RateLimitedError: Advice(
        "the API kept rate-limiting after retries: run again later or with a lower --parallel"
    ),
    TransportError: Advice(
        "check datadog:apiUrl (or datadog:site) and that the API is reachable from here; after a passing "
        "outage, run `pulumi up` again (it converges safely)"
    ),
    ServerError: Advice(
        "the Datadog API was unavailable after retries: run `pulumi up` again (it converges safely)"
    ),
    ResponseFormatError: Advice(
        "the API answered in an unexpected shape: run `pulumi refresh`, then `pulumi up` again"
    ),
}

_DEFAULT = Advice("run `pulumi refresh`, then `pulumi up` again")


def advice_for(exc: DatadogError) -> Advice:
    """The advice for ``exc``: the entry of the first class along its hierarchy."""
    return next((ADVICE[cls] for cls in type(exc).__mro__ if cls in ADVICE), _DEFAULT)


#: What `pulumi refresh` and `pulumi destroy` need to be told: they configure the provider from the
#: stack config the last `pulumi up` recorded in the state, not from the current stack config.
RECORDED_CONFIG = (
    "`pulumi refresh` and `pulumi destroy` use the stack config recorded in the state by the last "
    "`pulumi up` (even a failed one), not the current one: after fixing the config, run `pulumi up`, or add "
    "--run-program (`pulumi refresh --run-program`, `pulumi destroy --run-program`) so they read it"
)

#: `pulumi refresh` and `pulumi destroy` configure the provider from the stack config recorded in
#: the state by the last `pulumi up`, not from the current stack config.
STATE_KEYS_FIXES: Fixes = {
    ConfigurationError: ("declare the org's keys named above in the stack config; " + RECORDED_CONFIG),
    ForbiddenError: (
        "`pulumi refresh` and `pulumi destroy` use the keys recorded in the state by the last `pulumi up`, "
        "not the current stack config: if you changed datadog:apiKey/appKey (or orgConnections:orgs) since, "
        "run `pulumi up` first, or add --run-program (`pulumi refresh --run-program`, `pulumi destroy "
        "--run-program`) so the command reads the current config; otherwise check that the key's user has "
        "org_connections_read (to read) and org_connections_write (to delete); org_management grants both"
    ),
}


class OrgConnectionError(Exception):
    """A failed operation, worded for the person running `pulumi up`: what, for which orgs, why, what to do.

    The provider host reports an error as ``traceback.format_exc()``. To show this one line alone,
    :func:`hide_traceback_of_report` sets ``sys.tracebacklimit = 0`` just before the error leaves the
    provider, and the limit is put back as soon as the host formats the error (formatting reads the
    limit, then the message: ``__str__`` restores it) or at the provider's next call, whichever comes
    first. Nothing outlives that moment (``DDOC_PROVIDER_TRACEBACKS=1`` keeps full tracebacks).
    """

    def __str__(self) -> str:
        restore_traceback_limit()
        return super().__str__()


_UNSET = object()
_limit_lock = threading.Lock()
_saved_limit: list[object] = []  # the limit to put back while a report is pending


def hide_traceback_of_report() -> None:
    """Until the error being raised is formatted, tracebacks show their last line only."""
    if os.environ.get("DDOC_PROVIDER_TRACEBACKS"):
        return
    with _limit_lock:
        if not _saved_limit:
            _saved_limit.append(getattr(sys, "tracebacklimit", _UNSET))
        sys.tracebacklimit = 0


def restore_traceback_limit() -> None:
    """Put back the traceback limit that :func:`hide_traceback_of_report` replaced, if any."""
    with _limit_lock:
        if not _saved_limit:
            return
        previous = _saved_limit.pop()
        if previous is _UNSET:
            del sys.tracebacklimit
        else:
            sys.tracebacklimit = previous  # type: ignore[assignment]


#: What a fix names when the caller knows nothing more specific.
DEFAULT_FACTS: Mapping[str, str] = {"existing_id": "<connection id>", "stack": "<stack>"}


def fix_for(exc: DatadogError, overrides: Fixes | None = None, facts: Mapping[str, str] | None = None) -> str:
    """The fix for ``exc``: an override for the caller's situation first, else :data:`ADVICE`; the
    placeholders a fix names (``{existing_id}``) are filled from ``facts``."""
    fix = next((overrides[cls] for cls in type(exc).__mro__ if overrides and cls in overrides), None)
    fix = fix if fix is not None else advice_for(exc).fix
    return fix.format_map({**DEFAULT_FACTS, **(facts or {})})


def mask(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value replaced by ``[secret]``."""
    for value in secrets:
        if value:
            text = text.replace(value, "[secret]")
    return text


def org_label(alias: str | None) -> str:
    """How a message names the source org: the stack's own, or an alias."""
    return "the stack's org" if alias is None else f"org {alias!r}"


def explain(
    exc: DatadogError,
    action: str,
    alias: str | None,
    sink: str | None,
    overrides: Fixes | None = None,
    facts: Mapping[str, str] | None = None,
) -> OrgConnectionError:
    """One line: what failed, for which orgs, why (the API's text), and what to do."""
    where = f"{org_label(alias)} -> sink org {sink}" if sink else org_label(alias)
    why = str(exc)
    if exc.operation and why.startswith(f"{exc.operation}: "):
        why = why[len(exc.operation) + 2 :]  # `action` already says what was attempted
    fix = fix_for(exc, overrides, facts)
    return OrgConnectionError(f"{action} failed for {where}: {why}. To fix: {fix}.")

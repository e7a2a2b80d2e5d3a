"""``dd-org-connections whoami``: whose keys these are, and what a stack holding them can do.

One ``GET /api/v2/current_user`` (no permission needed beyond valid keys): the org, the user,
whether it is a service account or a person, the connection permissions its roles grant. When
current_user refuses the keys, one page of the connections list tells keys of nobody (refused
there too: exit status 5) from a key scoped to fewer permissions (the list answers: the user stays
unknown). The same reading as the provider's preflight (preflight.py). See ``docs/cli.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click

from ..errors import DatadogError, ForbiddenError
from ..models import CurrentUser
from ..preflight import PERSON_RISK, SERVICE_ACCOUNTS_PAGE
from ..users import ORG_CONNECTIONS_READ, ORG_CONNECTIONS_WRITE, ORG_MANAGEMENT
from . import EXIT_FORBIDDEN, CliError, _emit_json, _reported, _settings, cli
from .views import clean

__all__ = ["Whoami", "stack_can", "whoami_command"]

PERMISSIONS = (ORG_CONNECTIONS_READ, ORG_CONNECTIONS_WRITE, ORG_MANAGEMENT)


@dataclass(frozen=True)
class Whoami:
    """What the keys are: the user (None when current_user refused a key the list accepts)."""

    user: CurrentUser | None
    can_read: bool | None
    can_write: bool | None

    @classmethod
    def of(cls, user: CurrentUser | None, list_answered: bool = False) -> Whoami:
        """From current_user's answer, or from a list that answered where current_user refused."""
        if user is None:
            return cls(None, True if list_answered else None, None)
        return cls(user, user.can_read, user.can_write)

    def permission(self, name: str) -> bool | None:
        """Whether the user holds permission ``name`` (None: unknown)."""
        if self.user is None or self.user.permissions is None:
            return None
        return name in self.user.permissions

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document (always the same keys)."""
        user = self.user
        return {
            "org": {"id": user.org_id, "name": user.org_name or None} if user is not None else None,
            "user": None
            if user is None
            else {
                "id": user.user_id,
                "name": user.name,
                "handle": user.handle,
                "email": user.email,
                "service_account": user.service_account,
                "status": user.status or None,
                "disabled": user.disabled,
            },
            "permissions": {name: self.permission(name) for name in PERMISSIONS},
            "can_read": self.can_read,
            "can_write": self.can_write,
            "at_risk": None if user is None or user.service_account is None else not user.service_account,
            "stack": stack_can(self),
        }


def stack_can(who: Whoami) -> str:
    """What a Pulumi stack holding these keys can do, in one sentence."""
    read, write = who.can_read, who.can_write
    if write is None:
        if read:
            return "read connections (refresh); whether it may create, update and delete is unknown"
        return "unknown: the answer did not list the user's permissions (the preflight says nothing either)"
    if write and read is not False:
        does = "preview, up (create, update, delete), refresh and destroy"
    elif write:
        does = f"preview and up; refresh is refused (no {ORG_CONNECTIONS_READ})"
    elif read:
        does = (
            f"preview and refresh only: a preview that plans changes warns, and up refuses them before "
            f"sending anything (no {ORG_CONNECTIONS_WRITE})"
        )
    else:
        does = f"preview only: refresh, up and destroy are refused (neither {ORG_CONNECTIONS_READ} nor {ORG_CONNECTIONS_WRITE})"
    user = who.user
    if write and user is not None and user.service_account is False:
        does += "; the connections it creates are at risk (created by a person)"
    return does


def _text(who: Whoami) -> str:
    user = who.user
    rows: list[tuple[str, str]] = []
    if user is None:
        rows.append(
            ("user", "unknown: current_user refused these keys, the connections list did not (a scoped key?)")
        )
    else:
        org = f"{clean(user.org_name)} ({user.org_id})" if user.org_name else (user.org_id or "unknown")
        rows += [("org", org), ("user", f"{clean(user.label)} ({user.user_id})")]
        if user.service_account is True:
            rows.append(("kind", "service account"))
        elif user.service_account is False:
            rows.append(
                (
                    "kind",
                    f"person: {PERSON_RISK}; for stacks, use a service account's key ({SERVICE_ACCOUNTS_PAGE})",
                )
            )
        else:
            rows.append(("kind", "unknown (the answer did not say)"))
        if user.disabled or (user.status and user.status != "Active"):
            rows.append(("status", clean(user.status or "disabled")))
    held = {name: who.permission(name) for name in PERMISSIONS}
    rows.append(("permissions", ", ".join(f"{n}: {_yes_no(v)}" for n, v in held.items())))
    rows.append(("a stack can", stack_can(who)))
    width = max(len(label) for label, _ in rows) + 2
    return "\n".join(f"{label + ':':<{width}}{value}" for label, value in rows)


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


@cli.command("whoami")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the text.")
@click.pass_context
def whoami_command(ctx: click.Context, as_json: bool) -> None:
    """Show whose keys these are: org, user, service account or person, connection permissions.

    Also says what a Pulumi stack holding these keys can do (preview, up, refresh, destroy), and
    whether the connections it creates die with a person's account. Needs no permission beyond
    valid keys (GET /api/v2/current_user). Exit status 5 when the keys authenticate as nobody.
    """
    settings = _settings(ctx)
    with _reported(settings):
        client = settings.client()
        try:
            who = Whoami.of(client.get_current_user())
        except ForbiddenError as refused:
            try:
                client.list_page(limit=1)
            except ForbiddenError:
                raise CliError(
                    "these keys authenticate as nobody: GET /api/v2/current_user and the connections list both "
                    "answered 403 (current_user needs no permission beyond valid keys): the API key or the "
                    "application key is wrong, revoked, of another org, or of another site (DD_SITE / DD_HOST)",
                    EXIT_FORBIDDEN,
                ) from None
            except DatadogError:
                raise refused from None
            who = Whoami.of(None, list_answered=True)
    if as_json:
        _emit_json(who.to_json())
    else:
        click.echo(_text(who))

"""Whose keys these are: the org (and user) behind each org alias's keys, learnt once per process.

The provider proves a connection's identity before acting on it: keys act as the org that owns them,
and a connection is reachable only from its source or its sink org. If the keys of an alias (or the
stack's own keys) now belong to another org, a connection missing from their listing is not gone, a
DELETE answered 404 deleted nothing, and a create would make a connection from the wrong org.

How the org is learnt (one request per org and provider process, the preflight's):

1. ``GET /api/v2/current_user`` (no permission needed beyond valid keys): the user, whether it is a
   service account, its permissions, and its org (``relationships.org``);
2. if that fails or names no org: ``GET /api/v2/org``'s ``data.id`` (needs ``org_management`` or
   ``org_connections_write``; cached for the sink check as well);
3. if both fail, the org is unknown: checks built on it fail open (they act as before, and their
   messages say the keys' org could not be learnt).

Keys that authenticate as nobody are told apart from keys merely refused one endpoint: current_user
needs no permission, so its 403 is a strong sign, but an application key scoped to fewer
permissions may be refused there and not elsewhere. Only when a second endpoint refuses them too
(the connections list, one entry: ``refused``) are the keys proven bad; step 2 is then skipped
(it would be refused as well). Two requests in that case, one otherwise.

Two aliases whose keys share an API key belong to one org (an API key is an org's): the
``fingerprint`` tells that even when the org is unknown.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .models import CurrentUser, ManagedOrgs
from .settings import Credentials

__all__ = ["KeysIdentity", "fingerprint", "org_text"]


def fingerprint(credentials: Credentials) -> str:
    """API URL and a one-way fingerprint of the API key: equal for keys of one org (never the key)."""
    return f"{credentials.base_url}|{hashlib.sha256(credentials.api_key.encode()).hexdigest()[:12]}"


def org_text(org_id: str | None, name: str = "") -> str:
    """How a message names an org: ``org hub (a1b1...)``, or its id alone when the name is unknown."""
    if not org_id:
        return "an unknown org"
    return f"org {name} ({org_id})" if name else f"org {org_id}"


@dataclass(frozen=True)
class KeysIdentity:
    """Who the keys of one org alias are, as far as the API told."""

    fingerprint: str
    org_id: str | None = None  # lower case; None: could not be learnt (see `unknown_because`)
    org_name: str = ""
    user: CurrentUser | None = None  # from current_user; None when it failed
    unknown_because: str = ""  # why the org could not be learnt
    #: Why the keys are proven to authenticate as nobody (current_user and a second endpoint both
    #: refused them: the API's texts); "" when not proven.
    refused: str = ""

    @classmethod
    def learnt(
        cls,
        credentials: Credentials,
        user: CurrentUser | None,
        orgs: ManagedOrgs | None,
        failures: list[str],
        refused: str = "",
    ) -> KeysIdentity:
        """Build from what the lookups answered (either may be None; `failures` says why; `refused`:
        the proof that the keys authenticate as nobody, if any)."""
        org_id = (user.org_id if user is not None else None) or (orgs.current_id if orgs else None)
        name = (user.org_name if user is not None else "") or (orgs.current.name if orgs else "")
        return cls(
            fingerprint(credentials),
            org_id.lower() if org_id else None,
            name,
            user,
            "" if org_id else "; ".join(failures) or "the API did not say",
            refused,
        )

    @property
    def known(self) -> bool:
        """Whether the keys' org is known."""
        return self.org_id is not None

    @property
    def text(self) -> str:
        """The keys' org, for messages."""
        return org_text(self.org_id, self.org_name)

    def is_org(self, org_id: str | None) -> bool | None:
        """Whether the keys belong to ``org_id`` (None: the keys' org is unknown, or no id given)."""
        if self.org_id is None or not org_id:
            return None
        return self.org_id == org_id.lower()

    def is_party(self, source_org_id: str | None, sink_org_id: str | None) -> bool | None:
        """Whether the keys' org is the source or the sink of a connection (None: cannot tell)."""
        if self.org_id is None or not (source_org_id or sink_org_id):
            return None
        return self.org_id in {(source_org_id or "").lower(), (sink_org_id or "").lower()}

    def pair_key(self) -> str:
        """What identifies the source org of a declaration: the org id, else the keys' fingerprint."""
        return self.org_id or self.fingerprint

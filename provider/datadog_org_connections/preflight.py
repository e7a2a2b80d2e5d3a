"""What the keys of each org may do, checked before a command plans or makes a change.

The preflight is the identity lookup (`Deployment.identity`, identity.py): one request per org and
provider process, ``GET /api/v2/current_user``, which needs no permission beyond valid keys. This
module turns what it learnt into failures and warnings (docs/keys-and-permissions.md):

- keys proven to authenticate as nobody (current_user *and* the connections list refused them:
  ``KeysIdentity.refused``): the step fails at once, naming the config keys and the org alias.
  One refused endpoint proves nothing (an application key scoped to fewer permissions);
- keys whose user holds neither ``org_connections_write`` nor ``org_management``
  (``CurrentUser.can_write is False``): a step that plans a create, update or replacement warns
  (the preview itself only reads and stays green); create, update and delete refuse before
  sending anything. The engine plans deletes without calling the provider: a preview cannot
  report them;
- keys of a person (``service_account is False``): a warning, since Datadog deletes every
  connection a user created when that user's account is deactivated;
- anything not known (permissions or the account kind absent, current_user failing otherwise):
  nothing is said and nothing is blocked.

Warnings reach the command's output through the engine (diagnostics.py), once per user and
provider process (one for `pulumi preview`; `pulumi up` has a preview and an update process).
"""

from __future__ import annotations

from . import diagnostics
from .advice import RECORDED_CONFIG, OrgConnectionError, org_label
from .identity import KeysIdentity
from .stack_config import ORGS_KEY
from .users import ORG_CONNECTIONS_WRITE, ORG_MANAGEMENT

__all__ = [
    "PERSON_RISK",
    "SERVICE_ACCOUNTS_PAGE",
    "SUMMARY_WORDS",
    "app_key_setting",
    "keys_setting",
    "refused_error",
    "require_write",
    "review",
]

#: Why a person's keys are a risk (the published behaviour), for every message that says so.
PERSON_RISK = "Datadog removes every connection a user made when that user's account is deactivated"

#: Where a service account's application key comes from.
SERVICE_ACCOUNTS_PAGE = "Organization Settings > Service Accounts"

_NO_WRITE = f"holds neither {ORG_CONNECTIONS_WRITE} nor the older {ORG_MANAGEMENT}"

#: Words of Pulumi's own summary ("+ 2 created", "1 to delete"...), which scripts and people read in
#: the same output: the warnings never use them, so that they cannot be mistaken for a change.
SUMMARY_WORDS = ("create", "update", "replace", "delete")


def keys_setting(alias: str | None) -> str:
    """The config keys holding an alias's keys (the stack's own: ``datadog:apiKey/appKey``)."""
    return "datadog:apiKey/appKey" if alias is None else f"{ORGS_KEY}.{alias}.apiKey/.appKey"


def app_key_setting(alias: str | None) -> str:
    """The config key holding an alias's application key."""
    return "datadog:appKey" if alias is None else f"{ORGS_KEY}.{alias}.appKey"


def refused_error(alias: str | None, identity: KeysIdentity, recorded: bool = False) -> OrgConnectionError:
    """The keys are proven to authenticate as nobody (`identity.refused`)."""
    fix = (
        f"set {keys_setting(alias)} to an API key of the source org and an application key of a user of that "
        "org (a service account's), and datadog:apiUrl (or datadog:site) to the org's Datadog site; "
        "`dd-org-connections whoami` checks keys"
    )
    return OrgConnectionError(
        f"the keys of {org_label(alias)} ({keys_setting(alias)}) authenticate as nobody: "
        f"{identity.refused}. current_user needs no permission beyond valid keys and the list refused them "
        "too: the API key or the application key is wrong, revoked, of another org, or of another Datadog "
        f"site. Nothing was changed. To fix: {fix}" + (f"; {RECORDED_CONFIG}." if recorded else ".")
    )


def review(alias: str | None, identity: KeysIdentity | None, *, plans_change: bool) -> None:
    """`check` and `diff`: fail on keys proven refused; warn (once per user and process) of a person's
    keys, and of keys that cannot write when this step plans a create, update or replacement."""
    if identity is None:
        return
    if identity.refused:
        raise refused_error(alias, identity)
    user = identity.user
    if user is None:
        return
    if user.service_account is False:
        diagnostics.warn_once(
            f"person:{user.user_id}",
            f"the keys of {org_label(alias)} ({keys_setting(alias)}) are those of a person, {user.label}, not of "
            f"a service account: {PERSON_RISK}, so the connections made with them go when this person's account "
            f"is deactivated. To fix: set {app_key_setting(alias)} to an application key of a service account "
            f"of {identity.text} holding {ORG_CONNECTIONS_WRITE} ({SERVICE_ACCOUNTS_PAGE}); "
            "`dd-org-connections list` marks the connections at risk.",
        )
    if plans_change and user.can_write is False:
        diagnostics.warn_once(
            f"write:{user.user_id}",
            f"`pulumi up` would be refused: this plan changes connections of {org_label(alias)}, and its keys "
            f"({keys_setting(alias)}) belong to {user.label}, who {_NO_WRITE} (the permission to change "
            "connections). A preview only reads: it passes. To fix before `pulumi up`: set "
            f"{app_key_setting(alias)} to the application key of a user holding {ORG_CONNECTIONS_WRITE} (a service "
            f"account's), or grant it to a role of {user.label}.",
        )


def require_write(
    action: str, where: str, alias: str | None, identity: KeysIdentity | None, recorded: bool = False
) -> None:
    """`create`, `update`, `delete`, before the first request that changes anything: refuse keys
    proven refused, or whose user is proven unable to make the change (`recorded`: the command runs
    with the config recorded in the state, as `pulumi destroy` does)."""
    if identity is None:
        return
    if identity.refused:
        raise refused_error(alias, identity, recorded)
    user = identity.user
    if user is None or user.can_write is not False:
        return
    raise OrgConnectionError(
        f"{action} failed for {where}: the keys of {org_label(alias)} ({keys_setting(alias)}) belong to "
        f"{user.label}, who {_NO_WRITE} (GET /api/v2/current_user lists the user's permissions), so Datadog "
        "would refuse it. Nothing was sent. To fix: set "
        f"{app_key_setting(alias)} to the application key of a user holding {ORG_CONNECTIONS_WRITE} (a "
        f"service account's), or grant it to a role of {user.label}"
        + (f"; {RECORDED_CONFIG}." if recorded else ".")
    )

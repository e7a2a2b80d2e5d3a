"""Where the provider's credentials come from: the stack configuration, then the environment.

The dynamic provider receives the whole stack configuration in `configure()` (secrets unwrapped).
It reads the names users of the bridged Datadog provider already have:

    datadog:apiKey   (secret)   the API key of the source org
    datadog:appKey   (secret)   an application key of that org, whose user has `org_connections_write`
                                and `org_connections_read` (or the older `org_management`)
    datadog:apiUrl              e.g. https://api.datadoghq.eu, or the emulator's http://127.0.0.1:8126
    datadog:site                e.g. datadoghq.eu (when apiUrl is not set)

and, for stacks that manage connections of several source orgs, one entry per org alias:

    orgConnections:requestTimeoutSeconds   how long one HTTP answer may take (default 30)
    orgConnections:maxRetrySeconds         how long to keep retrying one operation (default 120; 0: no retry)
    orgConnections:validateSink            false: skip the preview-time check of sink_org_id

    orgConnections:adopt                   {"<resource name>": "<connection id>", ...}: connections an
                                           interrupted `pulumi up` made, taken over when that resource's
                                           create meets them (`dd-org-connections reconcile` prints it)

    orgConnections:orgs  (secret, structured)
        {"spoke-a": {"apiKey": "...", "appKey": "...", "apiUrl": "..."}, ...}
        pulumi config set --secret --path 'orgConnections:orgs.spoke-a.apiKey' <key>

Anything missing falls back to the environment variables the client knows (DD_API_KEY, ...).
Keys are only ever held in memory here: never in the provider object that goes into the state.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ConfigurationError
from .models import UUID_RE
from .settings import Credentials, resolve_credentials

ORGS_KEY = "orgConnections:orgs"
ADOPT_KEY = "orgConnections:adopt"
VALIDATE_SINK_KEY = "orgConnections:validateSink"
TIMEOUT_KEY = "orgConnections:requestTimeoutSeconds"
DEFAULT_TIMEOUT_SECONDS = 30.0
RETRY_KEY = "orgConnections:maxRetrySeconds"
DEFAULT_RETRY_SECONDS = 120.0

#: Every stack config key the provider reads.
KEYS = (
    "datadog:apiKey",
    "datadog:appKey",
    "datadog:apiUrl",
    "datadog:site",
    ORGS_KEY,
    ADOPT_KEY,
    VALIDATE_SINK_KEY,
    TIMEOUT_KEY,
    RETRY_KEY,
)


@dataclass(frozen=True)
class OrgSettings:
    """Unresolved settings of one org as found in config (any field may be missing)."""

    api_key: str | None = None
    app_key: str | None = None
    api_url: str | None = None
    site: str | None = None


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _decode_structured(value: Any, key: str) -> Mapping[str, Any]:
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        return value
    try:
        decoded = json.loads(value)
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"stack config {key} must be an object of org aliases, e.g. "
            f"pulumi config set --secret --path '{key}.spoke-a.apiKey' <key>"
        ) from None
    if not isinstance(decoded, Mapping):
        raise ConfigurationError(
            f"stack config {key} must be an object of org aliases, not {type(decoded).__name__}"
        )
    return decoded


class StackConfig:
    """The provider-relevant part of a stack's configuration, resolved lazily per org alias."""

    def __init__(self, raw: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> None:
        raw = raw or {}
        self._env = os.environ if env is None else env
        self._default = OrgSettings(
            api_key=_text(raw.get("datadog:apiKey")),
            app_key=_text(raw.get("datadog:appKey")),
            api_url=_text(raw.get("datadog:apiUrl")),
            site=_text(raw.get("datadog:site")),
        )
        self._aliases: dict[str, OrgSettings] = {}
        self._error: ConfigurationError | None = None
        try:
            for alias, entry in _decode_structured(raw.get(ORGS_KEY), ORGS_KEY).items():
                if not isinstance(entry, Mapping):
                    raise ConfigurationError(
                        f"stack config {ORGS_KEY}.{alias} must be an object with apiKey and appKey"
                    )
                self._aliases[str(alias)] = OrgSettings(
                    api_key=_text(entry.get("apiKey")),
                    app_key=_text(entry.get("appKey")),
                    api_url=_text(entry.get("apiUrl")),
                    site=_text(entry.get("site")),
                )
        except ConfigurationError as exc:
            self._error = exc
        self._adopt = self._adoptions(raw.get(ADOPT_KEY))
        self.timeout_seconds = self._seconds(raw, TIMEOUT_KEY, DEFAULT_TIMEOUT_SECONDS, low=0.0)
        self.max_retry_seconds = self._seconds(raw, RETRY_KEY, DEFAULT_RETRY_SECONDS, low=-1.0)
        validate = _text(raw.get(VALIDATE_SINK_KEY))
        self.validate_sink = validate is None or validate.lower() not in ("false", "0", "no", "off")

    def _seconds(self, raw: Mapping[str, Any], key: str, default: float, low: float) -> float:
        text = _text(raw.get(key))
        if text is None:
            return default
        try:
            value = float(text)
            if low < value <= 3600:
                return value
        except ValueError:
            pass
        self._error = self._error or ConfigurationError(
            f"stack config {key} must be a number of seconds up to 3600, not {text!r}"
        )
        return default

    def _adoptions(self, value: Any) -> dict[str, str]:
        """`orgConnections:adopt`: resource name -> connection id (a bad entry is a configuration error)."""
        try:
            entries = _decode_structured(value, ADOPT_KEY)
        except ConfigurationError as exc:
            self._error = self._error or exc
            return {}
        found: dict[str, str] = {}
        for name, conn_id in entries.items():
            if not isinstance(conn_id, str) or not UUID_RE.match(conn_id):
                self._error = self._error or ConfigurationError(
                    f"stack config {ADOPT_KEY}.{name} must be a connection id (a UUID), not {conn_id!r}"
                )
                continue
            found[str(name)] = conn_id.lower()
        return found

    def adoption(self, resource_name: str) -> str | None:
        """The connection id `orgConnections:adopt` names for the resource `resource_name`, if any."""
        return self._adopt.get(resource_name)

    @property
    def adoptions(self) -> dict[str, str]:
        """Every entry of `orgConnections:adopt`: resource name -> connection id (lower case)."""
        return dict(self._adopt)

    @property
    def aliases(self) -> list[str]:
        """The org aliases declared under `orgConnections:orgs`, sorted."""
        return sorted(self._aliases)

    @property
    def error(self) -> ConfigurationError | None:
        """What is wrong with the configuration, if anything (reported when credentials are needed)."""
        return self._error

    def has_alias(self, alias: str) -> bool:
        """Whether `alias` is declared under `orgConnections:orgs`."""
        return alias in self._aliases

    def unknown_alias_text(self, alias: str) -> str:
        """Why `alias` cannot be used: not declared; the closest declared alias, and how to declare it."""
        close = difflib.get_close_matches(alias, self.aliases, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        known = ", ".join(self.aliases) or "none"
        return (
            f"source_org {alias!r} is not declared in stack config {ORGS_KEY} (declared: {known}); {hint}"
            f"to declare it: pulumi config set --secret --path '{ORGS_KEY}.{alias}.apiKey' <key> (and .appKey)"
        )

    def credentials(self, alias: str | None = None) -> Credentials:
        """Credentials for `alias` (None: the stack's own org), or a ConfigurationError naming the fix."""
        if self._error is not None:
            raise self._error
        if alias is None:
            org = self._default
            where = "datadog:apiKey, datadog:appKey, datadog:apiUrl or datadog:site"
        else:
            if alias not in self._aliases:
                raise ConfigurationError(self.unknown_alias_text(alias))
            org = self._aliases[alias]
            # An alias without its own URL or site shares the stack's (the same account, one site).
            org = OrgSettings(
                api_key=org.api_key,
                app_key=org.app_key,
                api_url=org.api_url or (None if org.site else self._default.api_url),
                site=org.site or self._default.site,
            )
            where = f"{ORGS_KEY}.{alias}.apiKey / .appKey / .apiUrl, or datadog:apiUrl"
            if not org.api_key or not org.app_key:
                missing = "apiKey" if not org.api_key else "appKey"
                raise ConfigurationError(
                    f"source_org {alias!r} has no {missing}: "
                    f"pulumi config set --secret --path '{ORGS_KEY}.{alias}.{missing}' <key>"
                )
        try:
            return resolve_credentials(
                api_key=org.api_key, app_key=org.app_key, api_url=org.api_url, site=org.site, env=self._env
            )
        except ConfigurationError as exc:
            raise ConfigurationError(f"{exc} (stack config: {where})") from None

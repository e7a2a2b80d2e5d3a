"""Where and how to reach the Datadog API: sites, base URLs and keys.

:func:`resolve_credentials` combines explicit values (for example from Pulumi config
``datadog:apiKey``, ``datadog:appKey``, ``datadog:apiUrl``) with the environment variables that
Datadog's own tools read, explicit values first:

====================  ===============================================================
API key               ``api_key`` argument, ``DD_API_KEY``, ``DATADOG_API_KEY``
application key       ``app_key`` argument, ``DD_APP_KEY``, ``DATADOG_APP_KEY``
base URL              ``api_url`` argument, ``site`` argument, ``DD_HOST``,
                      ``DATADOG_HOST``, ``DD_SITE``, then the default site ``datadoghq.com``
====================  ===============================================================

A host may be given without a scheme (``us3.datadoghq.com``, ``api.datadoghq.eu``): it becomes
``https://api.<site>``; any other host gets ``https://``, and :attr:`Credentials.scheme_assumed`
records that the scheme was assumed (a plain-HTTP endpoint such as ``127.0.0.1:8126`` then fails
its TLS handshake, and the transport says to write ``http://``). A URL with a scheme
(``http://127.0.0.1:8126`` for a local emulator) is kept as given, minus a trailing slash.

Messages about a missing or malformed key name the environment variables and, through
:class:`KeySources`, the explicit settings of the front end in use: the stack config keys for the
Pulumi provider (:data:`PULUMI_CONFIG`, the default), the command-line flags for the CLI.
"""

from __future__ import annotations

import os
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .errors import ConfigurationError, one_line, redact

__all__ = [
    "DEFAULT_SITE",
    "PULUMI_CONFIG",
    "SITES",
    "Credentials",
    "KeySources",
    "base_url_for_site",
    "normalize_api_url",
    "resolve_credentials",
]

#: Every Datadog site and the base URL of its API.
SITES: Mapping[str, str] = {
    site: f"https://api.{site}"
    for site in (
        "datadoghq.com",
        "us3.datadoghq.com",
        "us5.datadoghq.com",
        "datadoghq.eu",
        "ap1.datadoghq.com",
        "ap2.datadoghq.com",
        "ddog-gov.com",
    )
}

DEFAULT_SITE = "datadoghq.com"

API_KEY_ENV = ("DD_API_KEY", "DATADOG_API_KEY")
APP_KEY_ENV = ("DD_APP_KEY", "DATADOG_APP_KEY")
HOST_ENV = ("DD_HOST", "DATADOG_HOST")
SITE_ENV = "DD_SITE"

_KEY_CHARS = frozenset(string.ascii_letters + string.digits + string.punctuation)


@dataclass(frozen=True)
class KeySources:
    """How a front end lets its user give the keys explicitly, for messages that name the fix.

    ``api_key`` / ``app_key`` name the explicit settings (``datadog:apiKey``, ``--api-key``);
    ``how`` turns one into the instruction to set it (``{}`` stands for the name).
    """

    api_key: str
    app_key: str
    how: str = "{}"

    def instruction(self, name: str) -> str:
        """How to set the explicit setting ``name``."""
        return self.how.format(name)


#: The Pulumi provider's explicit settings: stack config keys (the default of resolve_credentials).
PULUMI_CONFIG = KeySources("datadog:apiKey", "datadog:appKey", "pulumi config set --secret {} <key>")


@dataclass(frozen=True, repr=False)
class Credentials:
    """The keys and the API base URL one client uses.

    Constructing one checks that both keys are non-empty and hold only printable, non-blank
    ASCII (anything else cannot travel in an HTTP header) and that ``base_url`` is an http(s)
    URL without path, query or embedded credentials; else :class:`ConfigurationError`.
    ``repr()`` and ``str()`` never show the keys.
    """

    api_key: str
    app_key: str
    base_url: str = SITES[DEFAULT_SITE]
    #: ``base_url`` was given as a bare host (no ``scheme://``), not a Datadog site, and
    #: ``https://`` was assumed.
    scheme_assumed: bool = field(default=False, init=False, compare=False)

    def __post_init__(self) -> None:
        _check_key(self.api_key, "API key", API_KEY_ENV, PULUMI_CONFIG.api_key, PULUMI_CONFIG)
        _check_key(self.app_key, "application key", APP_KEY_ENV, PULUMI_CONFIG.app_key, PULUMI_CONFIG)
        raw = self.base_url.strip() if isinstance(self.base_url, str) else ""
        object.__setattr__(
            self, "base_url", normalize_api_url(self.base_url, secrets=(self.api_key, self.app_key))
        )
        assumed = bool(raw) and "://" not in raw and self.base_url not in SITES.values()
        object.__setattr__(self, "scheme_assumed", assumed)

    def __repr__(self) -> str:
        return f"Credentials(api_key='***', app_key='***', base_url={self.base_url!r})"

    __str__ = __repr__


def _missing_key_message(what: str, env: tuple[str, str], name: str, sources: KeySources) -> str:
    return f"no Datadog {what}: set {env[0]} (or {env[1]}), or {sources.instruction(name)}"


def _check_key(value: object, what: str, env: tuple[str, str], name: str, sources: KeySources) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(_missing_key_message(what, env, name, sources), setting="keys")
    if not set(value) <= _KEY_CHARS:
        # Never echo the value: it is (almost) a key.
        raise ConfigurationError(
            f"the Datadog {what} contains blanks or non-printable characters; check {env[0]} / {name}",
            setting="keys",
        )


def base_url_for_site(site: str) -> str:
    """Return ``https://api.<site>`` for a known Datadog site (case and a trailing dot ignored).

    Raises:
        ConfigurationError: the site is not one of :data:`SITES`.
    """
    key = site.strip().lower().rstrip("./")
    if key in SITES:
        return SITES[key]
    raise ConfigurationError(
        f"unknown Datadog site {one_line(site, 80)!r}: valid sites are {', '.join(SITES)}", setting="url"
    )


def _describe_url(raw: str) -> str:
    """A printable rendering of a URL that drops credentials and the query string."""
    try:
        sp = urlsplit(raw)
        host = sp.hostname or ""
        port = f":{sp.port}" if sp.port else ""
        shown = f"{sp.scheme}://{host}{port}{sp.path}" if sp.scheme else f"{host}{port}{sp.path}"
    except ValueError:
        shown = "<unparsable URL>"
    return one_line(shown or "<empty>", 80)


def normalize_api_url(url: str, *, secrets: tuple[str | None, ...] = ()) -> str:
    """Turn a site, host or URL into the API base URL (``scheme://host[:port]``, no slash).

    ``us3.datadoghq.com`` and ``app.datadoghq.eu`` become ``https://api.<site>``; any other host
    without a scheme gets ``https://``; a URL with a scheme keeps it (``http://127.0.0.1:9000``).

    Raises:
        ConfigurationError: not http(s), no host, a bad port, or a path, query, fragment or
            user/password embedded in the URL (the message never repeats the query or password).
    """
    raw = url.strip() if isinstance(url, str) else ""
    if not raw:
        raise ConfigurationError(
            "empty Datadog API URL: set DD_HOST / datadog:apiUrl or DD_SITE", setting="url"
        )
    if "://" not in raw:
        host = raw.rstrip("/").lower()
        if host in SITES:
            return SITES[host]
        if host.startswith("app.") and host[4:] in SITES:
            return SITES[host[4:]]
        raw = "https://" + raw
    shown = redact(_describe_url(raw), secrets)

    def bad(why: str) -> ConfigurationError:
        return ConfigurationError(f"bad Datadog API URL {shown!r}: {why}", setting="url")

    if any(c.isspace() for c in raw):
        raise bad("it contains blanks")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise bad("it cannot be parsed (bad port or brackets?)") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise bad("the scheme must be http or https")
    if parts.username is not None or parts.password is not None:
        raise bad("it must not embed a user or password (keys go in DD_API_KEY / DD_APP_KEY)")
    if not parts.hostname:
        raise bad("it has no host")
    if parts.path not in ("", "/"):
        raise bad("it must not have a path (give only scheme://host[:port])")
    if parts.query or parts.fragment or raw.endswith(("?", "#")):
        raise bad("it must not have a query string or fragment")
    host = parts.hostname
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port is not None else "")


def _first(explicit: str | None, env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    if explicit is not None and explicit.strip():
        return explicit.strip()
    for name in names:
        value = env.get(name)
        if value is not None and value.strip():
            return value.strip()
    return None


def resolve_credentials(
    api_key: str | None = None,
    app_key: str | None = None,
    api_url: str | None = None,
    site: str | None = None,
    env: Mapping[str, str] = os.environ,
    sources: KeySources = PULUMI_CONFIG,
) -> Credentials:
    """Resolve the keys and base URL from explicit values, then the environment.

    Explicit arguments win over the environment; blank values count as absent. See the module
    docstring for the order. ``api_url`` wins over ``site``. ``sources`` names the caller's
    explicit settings in messages (default: the Pulumi stack config keys).

    Raises:
        ConfigurationError: a key is missing (the message names the variables and the explicit
            settings to set), the site is unknown (the message lists the valid sites) or the URL
            is malformed.
    """
    api = _first(api_key, env, API_KEY_ENV)
    app = _first(app_key, env, APP_KEY_ENV)
    missing = []
    if api is None:
        missing.append(_missing_key_message("API key", API_KEY_ENV, sources.api_key, sources))
    if app is None:
        missing.append(_missing_key_message("application key", APP_KEY_ENV, sources.app_key, sources))
    if missing:
        raise ConfigurationError("; ".join(missing), setting="keys")
    assert api is not None and app is not None
    _check_key(api, "API key", API_KEY_ENV, sources.api_key, sources)
    _check_key(app, "application key", APP_KEY_ENV, sources.app_key, sources)

    if api_url is not None and api_url.strip():
        raw_url = api_url
    elif site is not None and site.strip():
        raw_url = base_url_for_site(site)
    else:
        host = _first(None, env, HOST_ENV)
        raw_url = (
            host if host is not None else base_url_for_site(_first(None, env, (SITE_ENV,)) or DEFAULT_SITE)
        )
    # Credentials normalises the URL (and records whether https:// was assumed).
    return Credentials(api_key=api, app_key=app, base_url=raw_url)

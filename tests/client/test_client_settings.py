"""Sites, keys and URLs: resolve_credentials and Credentials (no network)."""

from __future__ import annotations

import pytest

from datadog_org_connections.errors import ConfigurationError
from datadog_org_connections.settings import (
    PULUMI_CONFIG,
    SITES,
    Credentials,
    KeySources,
    normalize_api_url,
    resolve_credentials,
)

KEYS = {"DD_API_KEY": "api-key-1234567890", "DD_APP_KEY": "app-key-0987654321"}

EXPECTED_SITES = {
    "datadoghq.com": "https://api.datadoghq.com",
    "us3.datadoghq.com": "https://api.us3.datadoghq.com",
    "us5.datadoghq.com": "https://api.us5.datadoghq.com",
    "datadoghq.eu": "https://api.datadoghq.eu",
    "ap1.datadoghq.com": "https://api.ap1.datadoghq.com",
    "ap2.datadoghq.com": "https://api.ap2.datadoghq.com",
    "ddog-gov.com": "https://api.ddog-gov.com",
}


def test_sites_table_is_complete() -> None:
    assert dict(SITES) == EXPECTED_SITES


@pytest.mark.parametrize(("site", "url"), EXPECTED_SITES.items())
def test_every_site_resolves_from_argument_and_env(site: str, url: str) -> None:
    assert resolve_credentials(site=site, env=KEYS).base_url == url
    assert resolve_credentials(env={**KEYS, "DD_SITE": site}).base_url == url
    assert resolve_credentials(env={**KEYS, "DD_HOST": site}).base_url == url
    assert resolve_credentials(env={**KEYS, "DD_SITE": site.upper() + "."}).base_url == url


def test_default_site_is_us1() -> None:
    assert resolve_credentials(env=KEYS).base_url == "https://api.datadoghq.com"


def test_unknown_site_lists_valid_sites() -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_credentials(env={**KEYS, "DD_SITE": "datadoghq.moon"})
    msg = str(info.value)
    assert "datadoghq.moon" in msg
    for site in EXPECTED_SITES:
        assert site in msg


def test_env_key_fallbacks_and_precedence() -> None:
    creds = resolve_credentials(env={"DATADOG_API_KEY": "k-datadog", "DATADOG_APP_KEY": "a-datadog"})
    assert (creds.api_key, creds.app_key) == ("k-datadog", "a-datadog")
    creds = resolve_credentials(
        env={
            "DD_API_KEY": "k-dd",
            "DATADOG_API_KEY": "k-datadog",
            "DD_APP_KEY": "a-dd",
            "DATADOG_APP_KEY": "a-datadog",
        }
    )
    assert (creds.api_key, creds.app_key) == ("k-dd", "a-dd")
    creds = resolve_credentials(api_key="k-explicit", app_key="a-explicit", env=KEYS)
    assert (creds.api_key, creds.app_key) == ("k-explicit", "a-explicit")


def test_blank_values_count_as_absent_and_keys_are_stripped() -> None:
    creds = resolve_credentials(
        api_key="  ", env={"DD_API_KEY": "", "DATADOG_API_KEY": " k-2\n", "DD_APP_KEY": "a-1"}
    )
    assert creds.api_key == "k-2"


def test_url_precedence() -> None:
    env = {**KEYS, "DD_HOST": "datadoghq.eu", "DATADOG_HOST": "us5.datadoghq.com", "DD_SITE": "ddog-gov.com"}
    assert resolve_credentials(env=env).base_url == "https://api.datadoghq.eu"
    assert resolve_credentials(site="us3.datadoghq.com", env=env).base_url == "https://api.us3.datadoghq.com"
    assert (
        resolve_credentials(api_url="http://127.0.0.1:9000", site="us3.datadoghq.com", env=env).base_url
        == "http://127.0.0.1:9000"
    )
    del env["DD_HOST"]
    assert resolve_credentials(env=env).base_url == "https://api.us5.datadoghq.com"
    del env["DATADOG_HOST"]
    assert resolve_credentials(env=env).base_url == "https://api.ddog-gov.com"


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("us3.datadoghq.com", "https://api.us3.datadoghq.com"),
        ("api.datadoghq.eu", "https://api.datadoghq.eu"),
        ("app.datadoghq.eu", "https://api.datadoghq.eu"),
        ("https://api.datadoghq.eu/", "https://api.datadoghq.eu"),
        ("http://127.0.0.1:8126", "http://127.0.0.1:8126"),
        ("http://localhost:8126/", "http://localhost:8126"),
        ("HTTPS://API.DATADOGHQ.COM", "https://api.datadoghq.com"),
        ("datadog.internal.example:8443", "https://datadog.internal.example:8443"),
        ("http://[::1]:9000", "http://[::1]:9000"),
    ],
)
def test_host_normalisation(given: str, url: str) -> None:
    assert normalize_api_url(given) == url
    assert resolve_credentials(env={**KEYS, "DATADOG_HOST": given}).base_url == url


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("ftp://api.datadoghq.com", "scheme"),
        ("https://api.datadoghq.com/api/v2", "path"),
        ("https://api.datadoghq.com?x=1", "query"),
        ("https://api.datadoghq.com#frag", "fragment"),
        ("https://user:hunter2@api.datadoghq.com", "user or password"),
        ("https://", "no host"),
        ("https://api.datadoghq.com:99999", "parsed"),
        ("https://api.datad oghq.com", "blanks"),
    ],
)
def test_bad_urls(given: str, why: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_credentials(api_url=given, env=KEYS)
    assert why in str(info.value)
    assert "hunter2" not in str(info.value)


def test_bad_url_message_hides_query_and_keys() -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_credentials(api_url=f"https://h.example/p?api_key={KEYS['DD_API_KEY']}", env=KEYS)
    assert KEYS["DD_API_KEY"] not in str(info.value)
    assert "api_key" not in str(info.value)


def test_missing_keys_name_env_vars_and_pulumi_config() -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_credentials(env={"DD_APP_KEY": "a"})
    msg = str(info.value)
    assert "no Datadog API key" in msg and "DD_API_KEY" in msg and "DATADOG_API_KEY" in msg
    assert "pulumi config set --secret datadog:apiKey" in msg
    assert "application key" not in msg
    with pytest.raises(ConfigurationError) as info:
        resolve_credentials(env={"DD_API_KEY": "k"})
    assert "DD_APP_KEY" in str(info.value) and "datadog:appKey" in str(info.value)
    with pytest.raises(ConfigurationError) as info:
        resolve_credentials(env={})
    assert "DD_API_KEY" in str(info.value) and "DD_APP_KEY" in str(info.value)


def test_credentials_repr_hides_keys() -> None:
    creds = Credentials("secret-api-key-1", "secret-app-key-2", "https://api.datadoghq.eu")
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert "secret-api-key-1" not in text and "secret-app-key-2" not in text
        assert "https://api.datadoghq.eu" in text


def test_credentials_validate_keys_without_echoing_them() -> None:
    with pytest.raises(ConfigurationError, match="no Datadog API key"):
        Credentials("", "app")
    with pytest.raises(ConfigurationError) as info:
        Credentials("api", "bad key\nwith-newline-xyz")
    assert "with-newline-xyz" not in str(info.value)
    with pytest.raises(ConfigurationError):
        Credentials("api", "app", "https://api.datadoghq.com/path")
    assert Credentials("api", "app", "https://api.datadoghq.com/").base_url == "https://api.datadoghq.com"


CLI_LIKE = KeySources("--api-key", "--app-key", "pass {}")


def test_missing_keys_name_the_front_ends_own_settings() -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_credentials(env={}, sources=CLI_LIKE)
    msg = str(info.value)
    assert msg == (
        "no Datadog API key: set DD_API_KEY (or DATADOG_API_KEY), or pass --api-key; "
        "no Datadog application key: set DD_APP_KEY (or DATADOG_APP_KEY), or pass --app-key"
    )
    assert "pulumi" not in msg and "datadog:" not in msg
    with pytest.raises(ConfigurationError) as info:
        resolve_credentials(api_key="bad key\x01xyz", env={"DD_APP_KEY": "a"}, sources=CLI_LIKE)
    assert str(info.value) == (
        "the Datadog API key contains blanks or non-printable characters; check DD_API_KEY / --api-key"
    )
    assert PULUMI_CONFIG.instruction("datadog:apiKey") == "pulumi config set --secret datadog:apiKey <key>"


@pytest.mark.parametrize(
    ("given", "assumed"),
    [
        ("127.0.0.1:8126", True),
        ("localhost", True),
        ("datadog.internal.example:8443", True),
        ("http://127.0.0.1:8126", False),
        ("https://127.0.0.1:8126", False),
        ("datadoghq.eu", False),  # a Datadog site: https is its scheme, nothing was assumed
        ("app.datadoghq.eu", False),
    ],
)
def test_scheme_assumed_is_recorded(given: str, assumed: bool) -> None:
    assert resolve_credentials(env={**KEYS, "DD_HOST": given}).scheme_assumed is assumed
    assert Credentials("k", "a", given).scheme_assumed is assumed

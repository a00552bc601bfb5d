"""Secrets never travel in clear: a push channel whose requests carry its token or secret URL over plain http://
to a host that is not loopback is refused (config) or not sent (app.channels.push), unless the user set
allow_insecure_http = yes in its section; status then warns."""

from __future__ import annotations

from app.settings import schema

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List, Mapping, Tuple

    from app.settings.config import Config

INSECURE_HTTP = ("{url} is plain http:// to {host}, which is not this machine: the {secret} would travel in clear; "
                 "use https://, or set allow_insecure_http = yes in [{channel}] if you really mean it")
INSECURE_ALLOWED = ("allow_insecure_http = yes: {url} is plain http:// to {host}; the {secret} travels in clear "
                    "(use https://)")
INSECURE_MAYBE = "allow_insecure_http = yes: an http:// URL may carry the {secret} in clear"


def insecure_host(url: str) -> str:
    """Takes a URL; returns its host when it is plain http:// to a host that is not loopback, else "" (https://,
    loopback, or no URL): where a token would travel in clear."""
    import urllib.parse

    from app.settings.config import is_loopback_host

    try:
        parts = urllib.parse.urlsplit(url.strip())
        host = parts.hostname or ""
    except ValueError:
        return ""
    return host if parts.scheme.lower() == "http" and host and not is_loopback_host(host) else ""


def _secret(channel: str) -> str:
    return schema.CHANNEL_SECRETS[channel].replace("_", " ")


def cleartext_problems(values: Mapping[str, Any]) -> List[Tuple[str, str, str]]:
    """Takes the parsed fields of a config; returns (section, key, problem) for each enabled push channel whose
    request URL is plain http:// to another host without allow_insecure_http."""
    problems = []
    for channel in values["channels"]:
        name = schema.REQUEST_URL_KEYS.get(channel)
        if not name:  # email: and urllib.parse stays unloaded
            continue
        url = str(values.get("channel.{}.{}".format(channel, name)) or "")
        host = insecure_host(url)
        if host and not values.get("channel.{}.allow_insecure_http".format(channel)):
            problems.append((channel, name, INSECURE_HTTP.format(url=url, host=host, secret=_secret(channel),
                                                                 channel=channel)))
    return problems


def cleartext_warnings(config: "Config") -> List[Tuple[str, str]]:
    """Takes a config; returns (check name, detail) for each channel allowed to send its secret in clear."""
    warnings = []
    for name, options in sorted(config.channel_options.items()):
        if not options.get("allow_insecure_http") or name not in config.channels:
            continue
        url = str(options.get(schema.REQUEST_URL_KEYS.get(name, "url")) or "")
        host = insecure_host(url)
        detail = INSECURE_ALLOWED.format(url=url, host=host, secret=_secret(name)) if host \
            else INSECURE_MAYBE.format(secret=_secret(name))
        warnings.append((name + " http", detail))
    return warnings

"""The push channels behind one interface: sender(name, ...) returns a function from an event to an Outcome.

Each channel module (app/channels/<name>.py) only builds its request and reads the reply; this module
resolves its secret, sends through app.channels.http (verified TLS, proxies, deadline, no redirects) and
turns transport failures into "retry" outcomes with secrets redacted. Email is the other implementation
of the same interface (app.channels.delivery), with per-recipient replies.
"""

from __future__ import annotations

import importlib
import time
from types import ModuleType

from app.channels.base import RETRY, Event, Outcome
from app.settings.kinds import OptionValue

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Dict, Mapping

    from app.settings.config import Config
    from app.system.paths import Paths

REQUEST_TIMEOUT = 10.0  # seconds for each socket operation
REQUEST_DEADLINE = 15.0  # seconds one request may take in all (a trickling server is cut off)
INSECURE_SEND = ("[{channel}] {key}: not sent: http:// to {host}, which is not this machine, would carry the {secret} "
                 "in clear; use https://, or set allow_insecure_http = yes in [{channel}] if you really mean it")


def channel_module(name: str) -> ModuleType:
    """The module of a push channel (imported only when that channel sends)."""
    return importlib.import_module("app.channels." + name)


def secret_required(name: str, options: Mapping[str, OptionValue]) -> bool:
    """Whether channel name needs its secret with these settings (the webhook's plain format needs none)."""
    module = channel_module(name)
    required = getattr(module, "secret_required", None)
    return bool(required(options)) if required is not None else bool(module.SECRET_REQUIRED)


def send_request(name: str, options: Mapping[str, OptionValue], secret: str, event: Event) -> Outcome:
    """Build, send and classify one request of channel name; never raises for what the network does."""
    from app.channels.http import TransportError, perform, redact

    from app.errors import UserError
    from app.settings.cleartext import insecure_host
    from app.settings.schema import REQUEST_URL_KEYS

    module = channel_module(name)
    try:
        request = module.build_request(event, options, secret, time.time())
    except UserError as error:  # a setting the request cannot be built from: status shows it until fixed
        return Outcome(RETRY, str(error))
    host = insecure_host(request.url)
    if host and not options.get("allow_insecure_http"):  # kept pending: status shows it until it is fixed
        secret_name = getattr(module, "SECRET", "secret")
        key = secret_name if secret_name.endswith("_url") and not options.get("channel") \
            else REQUEST_URL_KEYS.get(name, "url")
        return Outcome(RETRY, INSECURE_SEND.format(channel=name, key=key, host=host,
                                                   secret=secret_name.replace("_", " ")))
    try:
        reply = perform(request, timeout=REQUEST_TIMEOUT, deadline=REQUEST_DEADLINE,
                        ca_file=str(options.get("ca_file") or ""))
    except TransportError as error:
        return Outcome(RETRY, str(error))
    outcome: Outcome = module.classify(reply)
    return outcome._replace(detail=redact(outcome.detail, request.secrets))


def sender(name: str, config: "Config", paths: "Paths") -> Callable[[Event], Outcome]:
    """The send function of push channel name; a secret that cannot be found makes every send a retry that
    names the problem (status shows it until it is fixed)."""
    from app.errors import UserError
    from app.settings.credentials import resolve_channel_secret

    options = dict(config.channel_options.get(name, {}))
    found: Dict[str, str] = {}

    def send(event: Event) -> Outcome:
        """Resolved on the first send, in the channel's own thread: a secret command or keyring runs in
        parallel with the other channels, not before them."""
        if "secret" not in found:
            try:
                found["secret"] = resolve_channel_secret(config, paths, name, required=secret_required(name, options))
            except UserError as error:
                return Outcome(RETRY, str(error))
        return send_request(name, options, found["secret"], event)

    return send

"""``test --channel NAME``: one test event through one push channel (or syslog), and what a failure means."""

from __future__ import annotations

from app.commands.result import TestResult
from app.errors import ExitCode, UserError
from app.settings.config import load_config
from app.system.paths import Paths

NOT_CONFIGURED = ("the {channel} channel is not set up: add it to [alert] channels in {path} "
                  "(or run: ssh_alert.pyz setup --channel {channel} ...)")
ADVICE = (
    (("401", "403", "unauthorized", "forbidden", "invalid_token", "M_UNKNOWN_TOKEN"),
     "the {secret} was refused: store the right one with ssh_alert.pyz setup --channel {channel} --{flag}-stdin"),
    (("404", "410", "not found", "no_service", "channel_not_found"),
     "the server does not know this destination: check the URL or id in [{channel}] of {path}"),
    (("certificate", "CERTIFICATE"), "the server's certificate is not trusted: fix it, or set ca_file in [{channel}]"),
    (("Tunnel", "407", "proxy"), "the proxy refused: check https_proxy and no_proxy"),
    (("429",), "the server limits requests now; the alert is retried when it allows"),
    (("moved permanently",), "the server moved for good: set the new address in [{channel}] of {path}"),
    (("without ", "temporary redirect"), "something other than the service answered (a captive portal, a proxy, a "
                                         "wrong path): check the URL in [{channel}] of {path} and the network"),
)


def explain(detail: str, channel: str, path: object) -> str:
    """detail followed by the advice for the first known cause found in it."""
    from app.settings.schema import CHANNEL_SECRETS

    secret = CHANNEL_SECRETS.get(channel, "secret")
    for needles, advice in ADVICE:
        if "ca_file" in advice and "ca_file" in detail:
            return detail  # the detail gives that advice already: say it once
        if any(needle in detail for needle in needles):
            return "{}; {}".format(detail, advice.format(secret=secret.replace("_", " "), channel=channel,
                                                         flag=secret.replace("_", "-"), path=path))
    return detail


def run_channel_test(paths: Paths, channel: str) -> TestResult:
    """Send one test event through channel; raises UserError (exit 2) when it is not set up."""
    from app.check.context import host_name
    from app.check.events import test_event
    from app.store.eventstore import event_channels
    from app.check.fanout import channel_sender
    from app.channels.base import SENT

    config = load_config(paths.config_file)
    if channel not in event_channels(config):
        raise UserError(NOT_CONFIGURED.format(channel=channel, path=paths.config_file), ExitCode.USAGE)
    host = host_name(config)
    event = test_event("ssh_alert test from {}".format(host),
                       "A test of the {} channel: if you read this, alerts reach you here.".format(channel), host)
    send = channel_sender(channel, config, paths)
    outcome = send(event)
    if outcome.state == SENT:
        return TestResult(True, channel, (), "")
    return TestResult(False, channel, (), explain(outcome.detail, channel, paths.config_file))

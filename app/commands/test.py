"""``test``: send a test message through the configured delivery and say plainly whether it worked."""

from __future__ import annotations

import argparse
import email.utils

from app.check.context import date_now, host_name
from app.commands.result import Result, TestResult
from app.errors import ExitCode, UserError
from app.settings.config import Config, load_config
from app.system.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

SENT = "Test alert sent to {recipients} via {route}."
NOT_SENT = "Test alert NOT sent via {route}: {reason}"
CHANNEL_SENT = "Test alert sent through the {channel} channel."


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser("test", help="send a test alert through the configured delivery")
    parser.add_argument("--system", action="store_true", help="through the system-wide mode's configuration (root)")
    parser.add_argument("--channel", metavar="NAME", default="email",
                        help="the channel to test: email (default), syslog, journald, or a push channel set up in "
                             "the config")


def run(paths: Paths, arguments: argparse.Namespace) -> Result:
    """Send the test alert; one line when sent. Raises UserError (exit 1) saying why it was not sent."""
    if getattr(arguments, "channel", "email") != "email":
        from app.commands.test_channel import run_channel_test

        result = run_channel_test(paths, arguments.channel)
    else:
        result = run_test(paths)
    if not result.delivered:
        raise UserError(NOT_SENT.format(route=result.route, reason=result.reason), ExitCode.NOT_DONE)
    if not result.recipients:
        return Result([CHANNEL_SENT.format(channel=result.route)])
    return Result([SENT.format(recipients=", ".join(result.recipients), route=result.route)])


def run_test(paths: Paths) -> TestResult:
    """Send one test message; raises UserError for configuration or credential problems."""
    from app.settings.credentials import resolve_password
    from app.channels.delivery import DeliveryError, describe, open_transport
    from app.store.outbox import wire_bytes
    from app.check.render import Envelope, build_test_message

    from app.channels.mailname import local_ehlo_name

    config = load_config(paths.config_file)
    ehlo = local_ehlo_name(config.policy.ehlo_name)
    envelope = Envelope(config.sender, config.recipients, host_name(config), ehlo)
    route = describe(config)
    message_id = email.utils.make_msgid(domain=ehlo)
    message = build_test_message(envelope, route, date_now(), message_id)
    transport = open_transport(config, lambda: resolve_password(config, paths), ehlo)
    try:
        result = transport.send(wire_bytes(message), config.recipients)
    except DeliveryError as error:
        return TestResult(False, route, config.recipients, str(error))
    finally:
        transport.close()
    if result.refused or result.deferred:
        return TestResult(False, route, config.recipients, "sent to {}; not to {}".format(
            ", ".join(result.accepted) or "nobody", "; ".join("{} ({})".format(address, reply) for address, reply
                                                             in result.refused + result.deferred)))
    problem = queue_problem(config, message_id)
    if problem:
        return TestResult(False, route, config.recipients, problem)
    return TestResult(True, route, config.recipients, "")


def queue_problem(config: Config, message_id: str) -> Optional[str]:
    """Where sendmail is exim and its queue can be read: why the message did not leave (bounced, frozen)."""
    import os

    from app.settings.mta import is_exim

    if config.method != "sendmail" or not is_exim(config.sendmail_path):
        return None
    from app.channels.eximqueue import fate

    return fate(os.path.realpath(config.sendmail_path), config.sendmail_path, message_id)

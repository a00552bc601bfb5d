"""``setup --channel NAME``: add a push channel (or change it) in the existing configuration.

Its settings come from --NAME-KEY flags generated from the settings schema (--ntfy-url, --telegram-chat-id,
...), else are asked at a terminal with the schema's help text; its secret comes from --token-stdin (or
is asked without echo) and goes to the OS keyring or the password file, never the config. A test event is
sent before anything is written: a failed test leaves the configuration as it was.
"""

import argparse
import sys
from typing import Any, Dict, List, Optional

from app.commands.prompt import Prompter
from app.commands.result import Result
from app.errors import ExitCode, UserError
from app.settings import schema
from app.system.paths import Paths

CHANNEL_ADDED = "The {channel} channel is set up: alerts now go to {channels}."
CHANNEL_TEST_FAILED = "the {channel} test was not delivered: {reason}; nothing was saved"
CHANNEL_MISSING = "missing {flag}: {why}"
SECRET_EMPTY = "--token-stdin: the first line of standard input is empty; pipe the {secret} in"
NEW_CONFIG_HEADER = ("# ssh_alert configuration, written by `ssh_alert.pyz setup --channel`: alerts go to the push\n"
                     "# channel below, not by email. Run setup to add email; docs/configuration.md lists every key.\n")
UNKNOWN_CHANNEL = "unknown channel {channel!r}; one of: {choices}"


def flag_name(key: schema.Key) -> str:
    return "--{}-{}".format(key.section, key.name.replace("_", "-"))


def channel_keys(channel: str) -> List[schema.Key]:
    """The channel's settings in the schema, without its secret command and CA file (their own flags)."""
    return [key for key in schema.KEYS if key.section == channel]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--channel, --token-stdin and one flag per push channel setting, all from the schema."""
    parser.add_argument("--channel", metavar="NAME", choices=schema.PUSH_CHANNELS,
                        help="add a push channel: " + ", ".join(schema.PUSH_CHANNELS))
    parser.add_argument("--token-stdin", action="store_true",
                        help="read the channel's secret (token, webhook URL, access token or signing secret) from "
                             "standard input, never argv")
    for channel in schema.PUSH_CHANNELS:
        for key in channel_keys(channel):
            parser.add_argument(flag_name(key), dest="channel_" + key.field.replace(".", "_"), metavar="VALUE",
                                help=argparse.SUPPRESS if channel != "ntfy" else "[{}] {}".format(channel, key.help))


def _given(arguments: argparse.Namespace, key: schema.Key) -> Optional[str]:
    return getattr(arguments, "channel_" + key.field.replace(".", "_"), None)


def answers(arguments: argparse.Namespace, channel: str, prompter: Optional[Prompter]) -> Dict[str, str]:
    """The channel's settings as INI text by key name: flags first, then questions at a terminal.

    Raises UserError naming every required flag that is missing without a terminal.
    """
    values: Dict[str, str] = {}
    problems = []
    for key in channel_keys(channel):
        given = _given(arguments, key)
        if given is None and prompter is not None and not arguments.non_interactive \
                and (key.required or not key.name.endswith(("_command", "ca_file", "secret_store",
                                                            "allow_insecure_http"))):
            given = prompter.ask("[{}] {} ({})".format(channel, key.name, key.help), key.default)
        if given:
            values[key.name] = given.strip()
        elif key.required:
            problems.append(CHANNEL_MISSING.format(flag=flag_name(key), why=key.help))
    if problems:
        raise UserError("\n".join(problems))
    return values


def read_secret(arguments: argparse.Namespace, channel: str, values: Dict[str, str],
                prompter: Optional[Prompter]) -> str:
    """The secret from --token-stdin or a question; "" when a *_command gives it or none is needed."""
    secret_name = schema.CHANNEL_SECRETS[channel]
    if values.get(secret_name + "_command"):
        return ""
    if arguments.token_stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
        if not secret:
            raise UserError(SECRET_EMPTY.format(secret=secret_name.replace("_", " ")))
        return secret
    if prompter is not None and not arguments.non_interactive:
        return prompter.secret("{} {}".format(channel, secret_name.replace("_", " ")), allow_empty=channel == "ntfy")
    return ""


def edited_config_text(text: str, channel: str, values: Dict[str, str], only: bool = False) -> str:
    """The config text with channel added to [alert] channels (only: made the one channel, no email) and its
    section set to values (pure). An empty text gives a new push-only config."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None, default_section="__no_defaults__")
    parser.read_string(text)
    if not parser.has_section("alert"):
        parser.add_section("alert")
    current = "" if only else parser.get("alert", "channels", fallback="email")
    names = [name.strip() for name in current.split(",") if name.strip()]
    if channel not in names:
        names.append(channel)
    parser.set("alert", "channels", ", ".join(names))
    if parser.has_section(channel):
        parser.remove_section(channel)
    parser.add_section(channel)
    for name, value in values.items():
        parser.set(channel, name, value)
    import io

    out = io.StringIO()
    parser.write(out)
    return out.getvalue()


def setup_channel(paths: Paths, arguments: argparse.Namespace, prompter: Optional[Prompter],
                  only: bool = False) -> Result:
    """Add or change the push channel arguments.channel: test it, then store its secret and write the config.
    With no config yet (or only), the channel becomes the one place alerts go: a push-only config."""
    import os

    from app.commands.test_channel import explain
    from app.channels.base import SENT
    from app.settings.config import load_config, parse_config
    from app.system.files import open_regular_file, replace_keeping_mode, write_private

    channel = arguments.channel
    new = not os.path.lexists(str(paths.config_file))
    text = ""
    if not new:
        with open_regular_file(paths.config_file, "r", encoding="utf-8") as handle:
            text = handle.read()
        load_config(paths.config_file)  # the current file must be valid (and ours) before it is changed
    only = only or new
    values = answers(arguments, channel, prompter)
    secret = read_secret(arguments, channel, values, prompter)
    new_text = edited_config_text(text, channel, values, only)
    config = parse_config(new_text, paths.config_file)  # every problem named, nothing written yet
    outcome = _test(config, paths, channel, secret)
    if outcome.state != SENT:
        raise UserError(CHANNEL_TEST_FAILED.format(channel=channel, reason=explain(outcome.detail, channel,
                                                                                   paths.config_file)),
                        ExitCode.NOT_DONE)
    if secret:
        from app.settings.credentials import store_channel_secret

        stored = store_channel_secret(paths, channel, secret, paths.config_file)
        new_text = edited_config_text(text, channel, dict(values, secret_store=stored.store), only)
    elif not values.get(schema.CHANNEL_SECRETS[channel] + "_command"):
        new_text = edited_config_text(text, channel, dict(values, secret_store="none"), only)
    lines = [CHANNEL_ADDED.format(channel=channel, channels=", ".join(config.channels))]
    if not new:
        replace_keeping_mode(paths.config_file, new_text.encode("utf-8"))
        return Result(lines, data={"channel": channel, "channels": list(config.channels)})
    try:
        write_private(paths.config_file, (NEW_CONFIG_HEADER + new_text).encode("utf-8"))
    except OSError as error:
        from app.commands.setup_apply import CONFIG_UNWRITABLE

        raise UserError(CONFIG_UNWRITABLE.format(path=paths.config_file, reason=error.strerror or error)) from None
    from app.alerting.handoff import sync_hook_wait
    from app.commands.setup_mail import first_check

    sync_hook_wait(paths.hook_wait_file, config.policy.hook_wait)
    line, checked = first_check(paths)
    return Result(lines + [line], ExitCode.OK if checked else ExitCode.NOT_DONE,
                  data={"channel": channel, "channels": list(config.channels)})


def _test(config: Any, paths: Paths, channel: str, secret: str) -> Any:
    """Send the test event with the secret given (or the one already kept)."""
    from app.alerting.context import host_name
    from app.alerting.events import test_event
    from app.channels.push import secret_required, send_request
    from app.settings.credentials import resolve_channel_secret

    if not secret:
        secret = resolve_channel_secret(config, paths, channel,
                                        required=secret_required(channel, dict(config.channel_options.get(channel, {}))))
    host = host_name(config)
    event = test_event("ssh_alert is set up on {}".format(host),
                       "Alerts for SSH logins on {} now reach you through {}.".format(host, channel), host)
    return send_request(channel, dict(config.channel_options.get(channel, {})), secret, event)

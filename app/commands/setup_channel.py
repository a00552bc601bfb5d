"""``setup --channel NAME``: add a push channel (or change it) in the existing configuration.

Its settings come from --NAME-KEY flags generated from the settings schema (--ntfy-url, --telegram-chat-id,
...), else are asked at a terminal with the schema's help text; its secret comes from --token-stdin (or
is asked without echo) and goes to the OS keyring or the password file, never the config. A test event is
sent before anything is written: a failed test leaves the configuration as it was.
"""

from __future__ import annotations

import argparse
import os
import sys

from app.commands.prompt import Prompter
from app.commands.result import Result
from app.errors import ExitCode, UserError
from app.settings import schema
from app.system.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

    from app.channels.base import Outcome
    from app.settings.config import Config

CHANNEL_ADDED = "The {channel} channel is set up: alerts now go to {channels}."
CHANNEL_TEST_FAILED = "the {channel} test was not delivered: {reason}; nothing was saved"
CHANNEL_MISSING = "missing {flag}: {why}"
SECRET_EMPTY = "{flag}: the first line of standard input is empty; pipe the {secret} in"
NEW_CONFIG_HEADER = ("# ssh_alert configuration, written by `ssh_alert.pyz setup --channel`: alerts go to the push\n"
                     "# channel below, not by email. Run setup to add email; docs/configuration.md lists every key.\n")
WRONG_SECRET_FLAG = "{flag} is not the {channel} channel's secret; use {right}"
UNKNOWN_CHANNEL = "unknown channel {channel!r}; one of: {choices}"
CHANNEL_TESTING = "Sending a test event through {channel} ..."
CHANNEL_FAILED_LINE = "The {channel} test was not delivered: {reason}"
ASK_CHANNEL_AFTER_FAILURE = "What now"
ASK_CHANNEL_CA_FILE = "CA bundle (PEM) that signed the server's certificate"
CHANNEL_NOT_SAVED = "Nothing was saved; the {channel} channel is as it was."
CHANNEL_SAVED_ANYWAY = "warning: the {channel} channel was saved although its test failed: {reason}"


def flag_name(key: schema.Key) -> str:
    return "--{}-{}".format(key.section, key.name.replace("_", "-"))


def channel_keys(channel: str) -> List[schema.Key]:
    """The channel's settings in the schema, without its secret command and CA file (their own flags)."""
    return [key for key in schema.KEYS if key.section == channel]


def secret_flag(secret: str) -> str:
    """The flag reading a secret from standard input: token -> --token-stdin, webhook_url -> --webhook-url-stdin."""
    return "--{}-stdin".format(secret.replace("_", "-"))


def secret_dest(secret: str) -> str:
    return "{}_stdin".format(secret)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--channel, one --SECRET-stdin per secret and one flag per push channel setting, all from the schema,
    grouped by channel in --help."""
    parser.add_argument("--channel", metavar="NAME", choices=schema.PUSH_CHANNELS,
                        help="add a push channel: " + ", ".join(schema.PUSH_CHANNELS))
    secrets = sorted(set(schema.CHANNEL_SECRETS.values()), key=list(schema.CHANNEL_SECRETS.values()).index)
    for secret in secrets:
        users = [channel for channel, name in schema.CHANNEL_SECRETS.items() if name == secret]
        parser.add_argument(secret_flag(secret), dest=secret_dest(secret), action="store_true",
                            help="read the {} of {} from standard input (first line), never argv".format(
                                secret.replace("_", " "), ", ".join(users)))
    for channel in schema.PUSH_CHANNELS:
        group = parser.add_argument_group("--channel {}".format(channel), "its secret: {}".format(
            secret_flag(schema.CHANNEL_SECRETS[channel])))
        for key in channel_keys(channel):
            group.add_argument(flag_name(key), dest="channel_" + key.field.replace(".", "_"), metavar="VALUE",
                               help=key.help)


def _given(arguments: argparse.Namespace, key: schema.Key) -> Optional[str]:
    return getattr(arguments, "channel_" + key.field.replace(".", "_"), None)


def answers(arguments: argparse.Namespace, channel: str, prompter: Optional[Prompter],
            previous: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The channel's settings as INI text by key name: flags first, then questions at a terminal, each
    proposing the previous answer (or the current config's value), else the default.

    Raises UserError naming every required flag that is missing without a terminal.
    """
    previous = previous or {}
    values: Dict[str, str] = {}
    problems = []
    for key in channel_keys(channel):
        given = _given(arguments, key)
        if given is None and prompter is not None and not arguments.non_interactive \
                and (key.required or not key.name.endswith(("_command", "ca_file", "secret_store",
                                                            "allow_insecure_http"))):
            given = prompter.ask("[{}] {} ({})".format(channel, key.name, key.help),
                                 previous.get(key.name, key.default))
        elif given is None and key.name in previous:
            given = previous[key.name]
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
    given = [name for name in set(schema.CHANNEL_SECRETS.values()) if getattr(arguments, secret_dest(name), False)]
    if given:
        if given != [secret_name] and given != ["token"]:  # --token-stdin stays accepted for every channel
            raise UserError(WRONG_SECRET_FLAG.format(flag=secret_flag(given[0]), channel=channel,
                                                     right=secret_flag(secret_name)))
        secret = sys.stdin.readline().rstrip("\r\n")
        if not secret:
            raise UserError(SECRET_EMPTY.format(flag=secret_flag(secret_name), secret=secret_name.replace("_", " ")))
        return secret
    if prompter is not None and not arguments.non_interactive:
        return prompter.secret("{} {}".format(channel, secret_name.replace("_", " ")), allow_empty=channel == "ntfy")
    return ""


def edited_config_text(text: str, channel: str, values: Dict[str, str], only: bool = False) -> str:
    """The config text with channel added to [alert] channels (only: made the one channel, no email) and its
    section's keys set to values (pure); an empty text gives a new push-only config.

    Edited in place (app.settings.inifile): comments, other sections and the order of keys stay.
    """
    import configparser

    from app.settings.inifile import edit

    parser = configparser.ConfigParser(interpolation=None, default_section="__no_defaults__",
                                       inline_comment_prefixes=(";", "#"))
    parser.read_string(text)
    current = parser.get("alert", "channels", fallback="email")
    names = [name.strip() for name in current.split(",") if name.strip()]
    changes = [] if channel in names else [("alert", "channels", ", ".join(names + [channel]))]
    if only and names != [channel]:
        changes = [("alert", "channels", channel)]
    changes += [(channel, name, value) for name, value in values.items()
                if parser.get(channel, name, fallback=None) != value]
    return edit(text, changes)


def setup_channel(paths: Paths, arguments: argparse.Namespace, prompter: Optional[Prompter],
                  only: bool = False) -> Result:
    """Add or change the push channel arguments.channel: test it, then store its secret and write the config.
    With no config yet (or only), the channel becomes the one place alerts go: a push-only config.

    At a terminal a failed test offers a CA file (for a certificate not trusted), then change/save/quit;
    without one it raises UserError (exit 1) and nothing is written.
    """
    from app.commands.test_channel import explain
    from app.channels.base import SENT
    from app.settings.config import load_config, parse_config
    from app.system.files import open_regular_file, replace_keeping_mode

    channel = arguments.channel
    new = not os.path.lexists(str(paths.config_file))
    text, current_channels = "", ()  # type: Tuple[str, Tuple[str, ...]]
    if not new:
        with open_regular_file(paths.config_file, "r", encoding="utf-8") as handle:
            text = handle.read()
        # the current file must be valid (and ours) before it is changed
        current_channels = load_config(paths.config_file).channels
    only = only or new
    interactive = prompter is not None and not arguments.non_interactive
    previous = {name: str(value) for name, value in _written(text, channel).items()}
    lines: List[str] = []
    ask_again = True
    while True:
        if ask_again:
            values = answers(arguments, channel, prompter, previous)
            secret = read_secret(arguments, channel, values, prompter)
        ask_again = True
        new_text = edited_config_text(text, channel, values, only)
        config = parse_config(new_text, paths.config_file)  # every problem named, nothing written yet
        if interactive and prompter is not None:
            prompter.say(CHANNEL_TESTING.format(channel=channel))
        outcome = _test(config, paths, channel, secret)
        if outcome.state == SENT:
            break
        reason = explain(outcome.detail, channel, paths.config_file)
        for saved in ("set ca_file in [{}]".format(channel), "set ca_file = its PEM file"):  # nothing is saved yet
            reason = reason.replace(saved, "give its CA with --{}-ca-file PEM".format(channel))
        if not interactive:
            raise UserError(CHANNEL_TEST_FAILED.format(channel=channel, reason=reason), ExitCode.NOT_DONE)
        assert prompter is not None
        prompter.say(CHANNEL_FAILED_LINE.format(channel=channel, reason=reason))
        choices = (("ca-file",) if "certificate" in outcome.detail.lower() else ()) + ("change", "save", "quit")
        choice = prompter.choose(ASK_CHANNEL_AFTER_FAILURE, choices, choices[0])
        if choice == "quit":
            return Result([CHANNEL_NOT_SAVED.format(channel=channel)], ExitCode.NOT_DONE)
        if choice == "save":
            lines.append(CHANNEL_SAVED_ANYWAY.format(channel=channel, reason=reason))
            break
        if choice == "ca-file":
            values = dict(values, ca_file=os.path.abspath(os.path.expanduser(prompter.ask(
                ASK_CHANNEL_CA_FILE, "", lambda answer: None if answer and os.access(
                    os.path.expanduser(answer), os.R_OK) else "{} is not a readable file".format(answer)))))
            ask_again = False
        else:
            previous = values
    if secret:
        from app.settings.credentials import store_channel_secret

        stored = store_channel_secret(paths, channel, secret, paths.config_file)
        new_text = edited_config_text(text, channel, dict(values, secret_store=stored.store), only)
    elif not values.get(schema.CHANNEL_SECRETS[channel] + "_command") and not (
            channel in current_channels and not arguments_secret_given(arguments)):
        new_text = edited_config_text(text, channel, dict(values, secret_store="none"), only)
    lines.append(CHANNEL_ADDED.format(channel=channel, channels=", ".join(config.channels)))
    data = {"channel": channel, "channels": list(config.channels)}
    if not new:
        replace_keeping_mode(paths.config_file, new_text.encode("utf-8"))
        return Result(lines, data=data)
    return _write_new(paths, config, new_text, lines, data)


def _write_new(paths: Paths, config: "Config", text: str, lines: List[str], data: Dict[str, Any]) -> Result:
    """Write a new push-only config (0600, atomically), then seed the store with the first check."""
    from app.check.handoff import sync_hook_wait
    from app.commands.setup_apply import CONFIG_UNWRITABLE
    from app.commands.setup_mail import first_check
    from app.system.files import write_private

    try:
        write_private(paths.config_file, (NEW_CONFIG_HEADER + text).encode("utf-8"))
    except OSError as error:
        raise UserError(CONFIG_UNWRITABLE.format(path=paths.config_file, reason=error.strerror or error)) from None
    sync_hook_wait(paths.hook_wait_file, config.policy.hook_wait)
    line, checked = first_check(paths)
    return Result(lines + [line], ExitCode.OK if checked else ExitCode.NOT_DONE, data=data)


def arguments_secret_given(arguments: argparse.Namespace) -> bool:
    return any(getattr(arguments, secret_dest(name), False) for name in set(schema.CHANNEL_SECRETS.values()))


def _written(text: str, channel: str) -> Dict[str, str]:
    """The channel section's keys as the file has them (a re-run proposes them)."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None, default_section="__no_defaults__",
                                       inline_comment_prefixes=(";", "#"))
    parser.read_string(text)
    return dict(parser.items(channel)) if parser.has_section(channel) else {}


def _test(config: "Config", paths: Paths, channel: str, secret: str) -> "Outcome":
    """Send the test event with the secret given (or the one already kept)."""
    from app.check.context import host_name
    from app.check.events import test_event
    from app.channels.push import secret_required, send_request
    from app.settings.credentials import resolve_channel_secret

    if not secret:
        secret = resolve_channel_secret(config, paths, channel,
                                        required=secret_required(channel, dict(config.channel_options.get(channel, {}))))
    host = host_name(config)
    event = test_event("ssh_alert is set up on {}".format(host),
                       "Alerts for SSH logins on {} now reach you through {}.".format(host, channel), host)
    return send_request(channel, dict(config.channel_options.get(channel, {})), secret, event)

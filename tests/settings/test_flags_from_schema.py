"""setup's flags come from the schema: every secret has --SECRET-stdin, every channel key its flag, all in --help
grouped by channel, and the docs' key table names only flags that exist."""

import re

import pytest

from app.arguments import build_parser
from app.commands.setup_channel import flag_name, secret_flag
from app.settings import schema
from helpers import ROOT


@pytest.fixture(scope="module")
def setup_help() -> str:
    parser = build_parser(["setup"])
    subparsers = next(action for action in parser._actions if action.dest == "command")
    return subparsers.choices["setup"].format_help()


def section_of(help_text: str, channel: str) -> str:
    """The --help lines of one channel's group."""
    start = help_text.index("--channel {}:".format(channel))
    following = [help_text.find("--channel {}:".format(other), start + 1) for other in schema.PUSH_CHANNELS]
    end = min([index for index in following if index > start] or [len(help_text)])
    return help_text[start:end]


@pytest.mark.parametrize("channel", schema.PUSH_CHANNELS)
def test_every_channel_key_has_its_flag_in_its_own_help_group(setup_help: str, channel: str):
    group = section_of(setup_help, channel)
    assert secret_flag(schema.CHANNEL_SECRETS[channel]) in group
    for key in schema.KEYS:
        if key.section == channel:
            assert flag_name(key) in group


@pytest.mark.parametrize("secret", sorted(set(schema.CHANNEL_SECRETS.values())))
def test_every_secret_has_a_stdin_flag_that_parses(setup_help: str, secret: str):
    channel = next(name for name, value in schema.CHANNEL_SECRETS.items() if value == secret)
    arguments = build_parser(["setup"]).parse_args(["setup", "--channel", channel, secret_flag(secret)])
    assert getattr(arguments, secret + "_stdin") is True
    assert secret_flag(secret) in setup_help
    assert "--password-stdin" in setup_help  # the SMTP password's


def test_every_flag_the_docs_key_table_names_exists_in_setup_help(setup_help: str):
    table = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert schema.markdown_table() in table
    named = set(re.findall(r"setup (--[a-z-]+)", table))
    assert named and all(flag in setup_help for flag in named), sorted(flag for flag in named
                                                                      if flag not in setup_help)

"""setup --channel's pure parts: the flags come from the schema, the config edit keeps everything else."""

import argparse

from app.commands.setup_channel import add_arguments, answers, edited_config_text, flag_name
from app.settings import schema


class Scripted:
    """A terminal that answers from a list and remembers the questions."""

    def __init__(self, replies):
        self.replies, self.asked = list(replies), []

    def ask(self, question, default="", validate=None):
        self.asked.append(question)
        return self.replies.pop(0) if self.replies else default

    def secret(self, question, allow_empty=False):
        self.asked.append(question)
        return "s3cret"


def parsed(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--non-interactive", action="store_true")
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_every_push_channel_setting_has_a_flag_named_after_its_section_and_key():
    for key in schema.KEYS:
        if key.section in schema.PUSH_CHANNELS:
            assert parsed(flag_name(key), "x") is not None


def test_the_config_edit_adds_the_channel_and_keeps_other_sections_and_rules():
    text = "[alert]\nto = a@example.com\n\n[smtp]\nhost = mail.example.com\n\n[rules]\nci = user deploy -> skip\n"
    edited = edited_config_text(text, "ntfy", {"url": "https://ntfy.sh/t"})
    assert "channels = email, ntfy" in edited and "[ntfy]\nurl = https://ntfy.sh/t" in edited
    assert "host = mail.example.com" in edited and "ci = user deploy -> skip" in edited
    assert edited_config_text(edited, "ntfy", {"url": "https://ntfy.sh/u"}).count("[ntfy]") == 1


def test_a_terminal_is_asked_the_channels_settings_but_not_where_setup_keeps_the_secret():
    terminal = Scripted(["https://ntfy.sh/topic"])
    values = answers(parsed("--channel", "ntfy"), "ntfy", terminal)
    assert values["url"] == "https://ntfy.sh/topic"
    assert not any("secret_store" in question or "_command" in question for question in terminal.asked)

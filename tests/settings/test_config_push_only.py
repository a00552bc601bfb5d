"""A push-only configuration: any non-empty set of channels is complete; email settings matter only with email."""

from pathlib import Path

import pytest

from app.channels.delivery import NO_EMAIL, NoMailTransport, describe, open_transport
from app.errors import UserError
from app.settings.config import parse_config

CONFIG = Path("/home/alice/.config/ssh-alert/config.ini")
NTFY = "[ntfy]\nurl = https://ntfy.sh/alerts\n"


@pytest.mark.parametrize("alert", ["channels = ntfy", "channels = ntfy\nmethod = sendmail\nsendmail_path = /nonexistent",
                                   "channels = ntfy\nto = not an address", "channels = ntfy, webhook"])
def test_a_push_only_config_needs_no_email_setting(alert: str) -> None:
    text = "[alert]\n{}\n{}[webhook]\nurl = https://hooks.example.com/x\nformat = plain\n".format(alert, NTFY)
    config = parse_config(text, CONFIG)
    assert not config.emails and config.smtp is None and config.method == ""
    assert describe(config) == NO_EMAIL.format(channels=", ".join(config.channels))


def test_a_dummy_smtp_section_in_a_push_only_config_is_left_alone_and_no_mail_is_ever_sent() -> None:
    config = parse_config("[alert]\nchannels = ntfy\n[smtp]\nhost = dummy\n" + NTFY, CONFIG)
    transport = open_transport(config, lambda: None, "web1")
    assert isinstance(transport, NoMailTransport) and config.smtp is None


def test_email_among_the_channels_still_needs_its_settings() -> None:
    with pytest.raises(UserError) as raised:
        parse_config("[alert]\nchannels = email, ntfy\n" + NTFY, CONFIG)
    assert "[alert] to" in raised.value.message and "[smtp] host" in raised.value.message

"""setup's edit of an existing config: only the asked keys change, every comment, section and key order stays."""

from pathlib import Path

import pytest

from app.errors import UserError
from app.settings.config import parse_config
from app.settings.configedit import changes, edited_text
from app.settings.inifile import diff, edit

WRITTEN = """# ssh_alert for web1: keep this comment
[alert]
to = owner@example.com   ; the on-call inbox
from = ssh-alert@example.com
method = smtp
channels = email, ntfy
reverse_dns = no
# digests for the deploy bursts
digest_after = 1000

[smtp]
host = 127.0.0.1
port = 2525
security = none

[ntfy]
url = https://ntfy.example.net/alerts
secret_store = none

[rules]
root-anywhere = user root -> urgent
"""


def config_from(text: str, path: Path):
    return parse_config(text, path)


def test_an_unchanged_config_gets_no_edit(tmp_path: Path):
    config = config_from(WRITTEN, tmp_path / "config.ini")
    assert changes(WRITTEN, config) == []
    assert edited_text(WRITTEN, config) == WRITTEN


def test_a_changed_recipient_changes_only_its_line_and_keeps_its_inline_comment(tmp_path: Path):
    config = config_from(WRITTEN, tmp_path / "config.ini")
    new = edited_text(WRITTEN, config._replace(recipients=("changed@example.com",)))
    assert new == WRITTEN.replace("to = owner@example.com ", "to = changed@example.com ")


def test_a_port_back_at_the_default_of_its_security_loses_its_lines_and_the_rest_stays(tmp_path: Path):
    config = config_from(WRITTEN, tmp_path / "config.ini")
    smtp = config.smtp._replace(port=587, security="starttls")  # type: ignore[union-attr]
    new = edited_text(WRITTEN, config._replace(smtp=smtp))
    assert new == WRITTEN.replace("port = 2525\n", "").replace("security = none\n", "")  # both implied now
    again = parse_config(new, tmp_path / "config.ini")
    assert (again.smtp.port, again.smtp.security) == (587, "starttls")  # type: ignore[union-attr]
    assert again.rules == config.rules and again.channels == ("email", "ntfy")


def test_a_legacy_flag_that_would_win_over_an_implied_value_gets_an_explicit_key(tmp_path: Path):
    text = "[alert]\nto = a@example.com\nfrom = b@example.com\n\n[smtp]\nhost = mail.example.com\nssl = yes\n"
    config = config_from(text, tmp_path / "config.ini")
    assert config.smtp.security == "ssl"  # type: ignore[union-attr]
    smtp = config.smtp._replace(port=587, security="starttls")  # type: ignore[union-attr]
    new = edited_text(text, config._replace(smtp=smtp))
    assert "ssl = yes" in new  # the user's line stays; security wins over it
    assert parse_config(new, tmp_path / "config.ini").smtp.security == "starttls"  # type: ignore[union-attr]


def test_switching_to_sendmail_keeps_the_smtp_section_as_written(tmp_path: Path):
    config = config_from(WRITTEN, tmp_path / "config.ini")
    new = edited_text(WRITTEN, config._replace(method="sendmail", sendmail_path="/usr/sbin/sendmail", smtp=None))
    assert "method = sendmail" in new and "host = 127.0.0.1\nport = 2525\nsecurity = none\n" in new


def test_a_stored_password_removes_the_plaintext_line_only(tmp_path: Path):
    text = WRITTEN.replace("security = none\n", "security = none\nuser = alice\npassword = pw ; with # marks\n"
                           ).replace("host = 127.0.0.1", "host = localhost")
    config = config_from(text, tmp_path / "config.ini")
    new = edited_text(text, config, password_stored=True)
    assert new == text.replace("password = pw ; with # marks\n", "")


def test_an_edit_that_would_not_read_back_is_refused(tmp_path: Path):
    config = config_from(WRITTEN, tmp_path / "config.ini")
    broken = WRITTEN.replace("reverse_dns = no", "reverse_dns = perhaps")
    with pytest.raises(UserError):
        edited_text(broken, config._replace(recipients=("changed@example.com",)))


@pytest.mark.parametrize("changes_, expected", [
    ([("alert", "from", "x@example.com")], "[alert]\nto = a\nfrom = x@example.com\n\n[other]\nk = v\n"),
    ([("smtp", "host", "h")], "[alert]\nto = a\n\n[other]\nk = v\n\n[smtp]\nhost = h\n"),
    ([("alert", "to", None)], "[alert]\n\n[other]\nk = v\n"),
    ([("other", "K", "w")], "[alert]\nto = a\n\n[other]\nk = w\n"),
])
def test_edit_sets_adds_and_removes_single_lines(changes_, expected):
    assert edit("[alert]\nto = a\n\n[other]\nk = v\n", changes_) == expected


def test_edit_removes_a_value_with_its_continuation_lines_and_keeps_a_file_without_final_newline():
    assert edit("[alert]\nto = a,\n  b\nfrom = c", [("alert", "to", None)]) == "[alert]\nfrom = c"
    assert edit("[alert]\nfrom = c", [("alert", "to", "a")]) == "[alert]\nfrom = c\nto = a\n"


def test_diff_is_empty_for_equal_texts_and_names_the_file():
    assert diff("a\n", "a\n", "config.ini") == []
    lines = diff("[alert]\nto = a\n", "[alert]\nto = b\n", "config.ini")
    assert lines[0].startswith("--- config.ini") and "-to = a" in lines and "+to = b" in lines


def test_adding_a_channel_keeps_comments_rules_and_other_channels_sections():
    from app.commands.setup_channel import edited_config_text

    new = edited_config_text(WRITTEN, "telegram", {"chat_id": "42"})
    assert new == WRITTEN.replace("channels = email, ntfy", "channels = email, ntfy, telegram") + \
        "\n[telegram]\nchat_id = 42\n"
    assert edited_config_text(WRITTEN, "ntfy", {"url": "https://ntfy.example.net/alerts"}) == WRITTEN


def test_a_new_config_names_the_help_a_pyz_only_user_has(tmp_path: Path):
    from app.settings.configwrite import render_config

    header = render_config(config_from(WRITTEN, tmp_path / "config.ini")).split("[alert]")[0]
    assert "ssh_alert.pyz config --help" in header and "README" not in header

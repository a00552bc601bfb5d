"""The config file: ours and the original script's format, validated as a whole with one clear message."""

import os
import re
from pathlib import Path

import pytest

from app.settings.config import DEFAULT_TIMEOUT, AlertPolicy, load_config, parse_config
from app.settings.configwrite import render_config
from app.errors import (COMMAND_CUT, CONFIG_PROBLEM, CONFIG_SYNTAX, NO_CONFIG, UNWRITABLE_COMMENT, ExitCode,
                        UserError)
from helpers import ROOT, write_config

CONFIG = Path("/home/alice/.config/ssh-alert/config.ini")

FULL = """\
[alert]
to = you@example.com, other@example.com
from = ssh-alert@web1.example.com
method = smtp
host_label = web1
timeout = 30

[smtp]
host = mail.example.com
port = 2525
security = ssl
user = you@example.com
password_store = file
password_command = pass show mail
"""

LEGACY = """\
[alert]
to = owner@example.com
from = server@example.com
method = smtp

[smtp]
host = smtp.example.com
port = 587
user = owner@example.com
password = hunter2 with spaces
starttls = {starttls}
ssl = {ssl}
"""


def problems_of(text: str, path: Path = CONFIG) -> list:
    with pytest.raises(UserError) as raised:
        parse_config(text, path)
    return raised.value.message.split("\n")


def smtp_config(**smtp: str) -> str:
    lines = ["[alert]", "to = a@example.com", "from = b@example.com", "[smtp]"]
    lines += ["{} = {}".format(key, value) for key, value in smtp.items()]
    return "\n".join(lines) + "\n"


def test_parse_config_full_valid_config_gives_every_setting() -> None:
    config = parse_config(FULL, CONFIG)
    assert config.path == CONFIG
    assert config.recipients == ("you@example.com", "other@example.com")
    assert config.sender == "ssh-alert@web1.example.com"
    assert config.method == "smtp"
    assert config.host_label == "web1"
    assert config.timeout == 30.0
    assert config.warnings == ()
    smtp = config.smtp
    assert smtp is not None
    assert (smtp.host, smtp.port, smtp.security, smtp.user) == ("mail.example.com", 2525, "ssl", "you@example.com")
    assert smtp.password_store == "file"
    assert smtp.password_command == "pass show mail"
    assert smtp.plaintext_password == ""
    assert smtp.ca_file == ""


def test_parse_config_without_optional_keys_uses_defaults() -> None:
    config = parse_config(smtp_config(host="mail.example.com"), CONFIG)
    assert config.method == "smtp"
    assert config.timeout == DEFAULT_TIMEOUT
    assert config.host_label == ""
    assert config.smtp is not None
    assert (config.smtp.security, config.smtp.port, config.smtp.password_store) == ("starttls", 587, "auto")


@pytest.mark.parametrize("starttls, ssl, security", [
    ("yes", "no", "starttls"),
    ("no", "yes", "ssl"),
    ("no", "no", "none"),
    ("true", "false", "starttls"),
    ("off", "on", "ssl"),
])
def test_parse_config_original_script_format_maps_flags_to_security(starttls: str, ssl: str, security: str) -> None:
    text = LEGACY.format(starttls=starttls, ssl=ssl).replace("host = smtp.example.com", "host = 127.0.0.1")
    config = parse_config(text, CONFIG)
    assert config.recipients == ("owner@example.com",)
    assert config.sender == "server@example.com"
    assert config.smtp is not None
    assert config.smtp.security == security
    assert config.smtp.port == 587
    assert config.smtp.user == "owner@example.com"
    assert config.warnings == ()


def test_parse_config_original_script_plaintext_password_lands_in_plaintext_password() -> None:
    config = parse_config(LEGACY.format(starttls="yes", ssl="no"), CONFIG)
    assert config.smtp is not None
    assert config.smtp.plaintext_password == "hunter2 with spaces"
    assert config.smtp.security == "starttls"


def test_parse_config_original_script_bad_flag_is_a_problem() -> None:
    assert problems_of(LEGACY.format(starttls="maybe", ssl="no")) == [
        CONFIG_PROBLEM.format(path=CONFIG, section="smtp", key="starttls", problem="'maybe' is not yes or no")]


def test_parse_config_security_key_wins_over_original_flags() -> None:
    config = parse_config(smtp_config(host="mail.example.com", security="ssl", starttls="yes"), CONFIG)
    assert config.smtp is not None and config.smtp.security == "ssl"


@pytest.mark.parametrize("security, port", [("ssl", 465), ("starttls", 587), ("none", 25)])
def test_parse_config_default_port_follows_security(security: str, port: int) -> None:
    config = parse_config(smtp_config(host="127.0.0.1", security=security), CONFIG)
    assert config.smtp is not None
    assert config.smtp.port == port


def test_parse_config_port_465_without_security_means_ssl() -> None:
    config = parse_config(smtp_config(host="mail.example.com", port="465"), CONFIG)
    assert config.smtp is not None and config.smtp.security == "ssl"


def test_load_config_missing_file_says_to_run_setup(tmp_path: Path) -> None:
    path = tmp_path / "config.ini"
    with pytest.raises(UserError) as raised:
        load_config(path)
    assert raised.value.message == NO_CONFIG.format(path=path)
    assert raised.value.exit_code == ExitCode.USAGE == 2


def test_load_config_reads_the_file_written_by_setup(paths) -> None:  # type: ignore[no-untyped-def]
    path = write_config(paths, smtp={"host": "127.0.0.1", "security": "none"})
    config = load_config(path)
    assert config.path == path
    assert config.recipients == ("owner@example.com",)
    assert config.host_label == "web1.example.com"


def test_load_config_invalid_ini_gives_one_line_syntax_message(tmp_path: Path) -> None:
    path = tmp_path / "config.ini"
    path.write_text("to = you@example.com\n[alert\n")
    with pytest.raises(UserError) as raised:
        load_config(path)
    message = raised.value.message
    assert "\n" not in message
    prefix, _, _ = CONFIG_SYNTAX.partition("({reason})")
    assert message.startswith(prefix.format(path=path))
    assert message.endswith("; fix the file or re-run: ssh_alert.pyz setup")
    assert raised.value.exit_code == ExitCode.USAGE


def test_load_config_duplicate_key_gives_one_line_syntax_message(tmp_path: Path) -> None:
    path = tmp_path / "config.ini"
    path.write_text("[alert]\nto = a@example.com\nto = b@example.com\n")
    with pytest.raises(UserError) as raised:
        load_config(path)
    assert "\n" not in raised.value.message
    assert raised.value.message.startswith("{}: not a valid INI file (".format(path))


def test_parse_config_several_problems_are_all_reported_in_one_error_one_per_line() -> None:
    text = ("[alert]\nfrom = not-an-address\n"
            "[smtp]\nhost = mail.example.com\nport = 99999\nsecurity = tls\n")
    with pytest.raises(UserError) as raised:
        parse_config(text, CONFIG)
    assert raised.value.exit_code == ExitCode.USAGE
    assert raised.value.message.split("\n") == [
        CONFIG_PROBLEM.format(path=CONFIG, section="alert", key="to",
                              problem="missing; set to = you@example.com (several: comma-separated)"),
        CONFIG_PROBLEM.format(path=CONFIG, section="alert", key="from",
                              problem="'not-an-address' is not an email address"),
        CONFIG_PROBLEM.format(path=CONFIG, section="smtp", key="port",
                              problem="'99999' is not a port number (1-65535)"),
        CONFIG_PROBLEM.format(path=CONFIG, section="smtp", key="security",
                              problem="'tls' is not one of: ssl, starttls, none"),
    ]


def test_parse_config_bad_recipient_among_several_is_named() -> None:
    lines = problems_of("[alert]\nto = ok@example.com, broken\nfrom = b@example.com\n[smtp]\nhost = h\n")
    assert lines == [CONFIG_PROBLEM.format(path=CONFIG, section="alert", key="to",
                                           problem="'broken' is not an email address")]


def test_parse_config_password_user_over_unencrypted_remote_smtp_is_refused() -> None:
    assert problems_of(smtp_config(host="mail.example.com", security="none", user="alice")) == [
        CONFIG_PROBLEM.format(path=CONFIG, section="smtp", key="security",
                              problem="none would send the password for alice unencrypted to mail.example.com; "
                                      "set security = starttls or ssl")]


def test_parse_config_original_format_without_tls_to_remote_host_is_refused() -> None:
    assert problems_of(LEGACY.format(starttls="no", ssl="no")) == [
        CONFIG_PROBLEM.format(path=CONFIG, section="smtp", key="security",
                              problem="none would send the password for owner@example.com unencrypted to "
                                      "smtp.example.com; set security = starttls or ssl")]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2", "LOCALHOST"])
def test_parse_config_password_user_over_unencrypted_loopback_is_allowed(host: str) -> None:
    config = parse_config(smtp_config(host=host, security="none", user="alice"), CONFIG)
    assert config.smtp is not None and config.smtp.security == "none" and config.smtp.user == "alice"


def test_parse_config_unencrypted_remote_without_user_is_allowed() -> None:
    config = parse_config(smtp_config(host="mail.example.com", security="none"), CONFIG)
    assert config.smtp is not None and config.smtp.port == 25


def test_parse_config_unknown_keys_and_sections_are_errors_with_a_did_you_mean() -> None:
    from app.errors import UNKNOWN_KEY, UNKNOWN_SECTION

    text = smtp_config(host="mail.example.com", colour="blue", securty="ssl") + "[smpt]\nthing = 1\n[extra]\n"
    assert problems_of(text) == [
        CONFIG_PROBLEM.format(path=CONFIG, section="smtp", key="colour", problem=UNKNOWN_KEY.format(hint="")),
        CONFIG_PROBLEM.format(path=CONFIG, section="smtp", key="securty",
                              problem=UNKNOWN_KEY.format(hint=" (did you mean security?)")),
        UNKNOWN_SECTION.format(path=CONFIG, section="smpt", hint=" (did you mean [smtp]?)"),
        UNKNOWN_SECTION.format(path=CONFIG, section="extra", hint=""),
    ]


def test_parse_config_a_key_in_the_wrong_section_names_its_section_and_legacy_spellings_stay_accepted() -> None:
    from app.errors import UNKNOWN_KEY

    assert problems_of(smtp_config(host="mail.example.com") + "[alert]\nhost_name = x\n") != []
    text = "[alert]\nto = a@example.com\nfrom = b@example.com\nport = 25\n[smtp]\nhost = h\n"
    assert problems_of(text) == [CONFIG_PROBLEM.format(path=CONFIG, section="alert", key="port",
                                                       problem=UNKNOWN_KEY.format(hint=" (it belongs in [smtp])"))]
    legacy = "[alert]\nto = a@example.com\nfrom = b@example.com\n[smtp]\nhost = h\nssl = yes\npassword = pw\n"
    assert parse_config(legacy, CONFIG).smtp.security == "ssl"  # type: ignore[union-attr]


@pytest.mark.parametrize("value", ["0", "-5", "601", "1e9", "nan", "inf", "soon"])
def test_parse_config_timeout_out_of_range_is_a_problem(value: str) -> None:
    text = "[alert]\nto = a@example.com\nfrom = b@example.com\ntimeout = {}\n[smtp]\nhost = h\n".format(value)
    assert problems_of(text) == [CONFIG_PROBLEM.format(
        path=CONFIG, section="alert", key="timeout",
        problem="{!r} is not a number of seconds between 1 and 600".format(value))]


@pytest.mark.parametrize("value", ["1", "600", "2.5"])
def test_parse_config_timeout_in_range_is_accepted(value: str) -> None:
    text = "[alert]\nto = a@example.com\nfrom = b@example.com\ntimeout = {}\n[smtp]\nhost = h\n".format(value)
    assert parse_config(text, CONFIG).timeout == float(value)


def test_parse_config_bad_timeout_in_smtp_section_names_the_smtp_section() -> None:
    lines = problems_of(smtp_config(host="h", timeout="0"))
    assert lines == [CONFIG_PROBLEM.format(path=CONFIG, section="smtp", key="timeout",
                                           problem="'0' is not a number of seconds between 1 and 600")]


def test_parse_config_timeout_below_one_second_is_a_problem() -> None:
    text = "[alert]\nto = a@example.com\nfrom = b@example.com\ntimeout = 0.5\n[smtp]\nhost = h\n"
    assert problems_of(text) == [CONFIG_PROBLEM.format(
        path=CONFIG, section="alert", key="timeout", problem="'0.5' is not a number of seconds between 1 and 600")]


def test_parse_config_timeout_in_alert_wins_over_the_original_scripts_timeout_in_smtp() -> None:
    text = "[alert]\nto = a@example.com\nfrom = b@example.com\ntimeout = 30\n[smtp]\nhost = h\ntimeout = 0\n"
    config = parse_config(text, CONFIG)
    assert (config.timeout, config.warnings) == (30.0, ())
    assert parse_config(smtp_config(host="h", timeout="45"), CONFIG).timeout == 45.0


def test_parse_config_sendmail_path_that_does_not_exist_is_a_problem(tmp_path: Path) -> None:
    missing = tmp_path / "no-sendmail"
    text = "[alert]\nto = a@example.com\nfrom = b@example.com\nmethod = sendmail\nsendmail_path = {}\n".format(missing)
    assert problems_of(text) == [CONFIG_PROBLEM.format(path=CONFIG, section="alert", key="sendmail_path",
                                                       problem="{} is not an executable file".format(missing))]


def test_parse_config_sendmail_with_executable_path_has_no_smtp(tmp_path: Path) -> None:
    sendmail = tmp_path / "sendmail"
    sendmail.write_text("#!/bin/sh\nexit 0\n")
    sendmail.chmod(0o755)
    text = "[alert]\nto = a@example.com\nfrom = b@example.com\nmethod = sendmail\nsendmail_path = {}\n".format(sendmail)
    config = parse_config(text, CONFIG)
    assert (config.method, config.sendmail_path, config.smtp) == ("sendmail", str(sendmail), None)


def test_parse_config_unknown_method_is_a_problem() -> None:
    lines = problems_of("[alert]\nto = a@example.com\nfrom = b@example.com\nmethod = pigeon\n")
    assert lines == [CONFIG_PROBLEM.format(path=CONFIG, section="alert", key="method",
                                           problem="'pigeon' is not one of: smtp, sendmail")]


def test_parse_config_missing_smtp_host_is_a_problem() -> None:
    assert problems_of("[alert]\nto = a@example.com\nfrom = b@example.com\n") == [
        CONFIG_PROBLEM.format(path=CONFIG, section="smtp", key="host",
                              problem="missing; set host = your mail server (or use method = sendmail)")]


def test_parse_config_missing_ca_file_is_a_problem(tmp_path: Path) -> None:
    missing = tmp_path / "ca.pem"
    assert problems_of(smtp_config(host="h", ca_file=str(missing))) == [CONFIG_PROBLEM.format(
        path=CONFIG, section="smtp", key="ca_file", problem="{} does not exist or is not readable".format(missing))]


def test_parse_config_existing_ca_file_with_tilde_is_expanded(home: Path) -> None:
    (home / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    config = parse_config(smtp_config(host="h", ca_file="~/ca.pem"), CONFIG)
    assert config.smtp is not None and config.smtp.ca_file == os.path.join(str(home), "ca.pem")


def test_parse_config_unknown_password_store_is_a_problem() -> None:
    assert problems_of(smtp_config(host="h", password_store="vault")) == [CONFIG_PROBLEM.format(
        path=CONFIG, section="smtp", key="password_store", problem="'vault' is not one of: auto, keyring, file")]


def test_user_error_from_config_exits_with_usage_code() -> None:
    with pytest.raises(UserError) as raised:
        parse_config("[alert]\n", CONFIG)
    assert raised.value.exit_code is ExitCode.USAGE
    assert int(raised.value.exit_code) == 2
    assert raised.value.message.split("\n") == [
        CONFIG_PROBLEM.format(path=CONFIG, section="alert", key="to",
                              problem="missing; set to = you@example.com (several: comma-separated)"),
        CONFIG_PROBLEM.format(path=CONFIG, section="alert", key="from",
                              problem="missing; set from = an address your mail server accepts as sender"),
        CONFIG_PROBLEM.format(path=CONFIG, section="smtp", key="host",
                              problem="missing; set host = your mail server (or use method = sendmail)"),
    ]

def test_parse_config_names_each_bad_trusted_entry_and_bad_policy_values() -> None:
    text = ("[alert]\nto = a@example.com\nfrom = b@example.com\nmethod = sendmail\nsendmail_path = /bin/true\n"
            "trusted = 203.0.113.0/24, 10.0.0.300, office\nnotify = some\ndigest_after = 0\n")
    network = "is not an IP address or network (e.g. 203.0.113.0/24, 2001:db8::/48, 10.0.0.5)"
    assert problems_of(text) == [
        CONFIG_PROBLEM.format(path=CONFIG, section="alert", key="notify", problem="'some' is not one of: all, new"),
        CONFIG_PROBLEM.format(path=CONFIG, section="alert", key="trusted", problem="'10.0.0.300' " + network),
        CONFIG_PROBLEM.format(path=CONFIG, section="alert", key="trusted", problem="'office' " + network),
        CONFIG_PROBLEM.format(path=CONFIG, section="alert", key="digest_after",
                              problem="'0' is not a number from 1 to 1000"),
    ]


# --- inline comments: the documented example works when pasted -------------------------------------------------

CONFIGURATION_DOC = ROOT / "docs" / "configuration.md"


def readme_example() -> str:
    """The ```ini block under "## Configuration" in docs/configuration.md, as a user would paste it."""
    section = CONFIGURATION_DOC.read_text(encoding="utf-8").split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"^```ini\n(.*?)^```", section, re.S | re.M)
    assert match is not None, "docs/configuration.md has no ```ini block under ## Configuration"
    return match.group(1)


def test_the_readme_example_config_is_accepted_with_no_problems_and_no_warnings(tmp_path: Path) -> None:
    path = tmp_path / "config.ini"
    path.write_text(readme_example(), encoding="utf-8")
    path.chmod(0o600)
    config = load_config(path)
    assert config.warnings == ()
    assert config.recipients == ("you@example.com", "other@example.com")
    assert (config.method, config.host_label, config.timeout) == ("smtp", "", 20.0)
    assert config.policy == AlertPolicy()  # the example shows the defaults
    smtp = config.smtp
    assert smtp is not None
    assert (smtp.host, smtp.port, smtp.security, smtp.user) == ("mail.example.com", 587, "starttls", "you@example.com")
    assert (smtp.password_store, smtp.password_command, smtp.ca_file) == ("auto", "", "")


def test_an_inline_comment_needs_a_blank_before_it_so_a_hash_inside_a_value_stays() -> None:
    config = parse_config(smtp_config(host="mail.example.com   # the provider's relay", user="you",
                                      password_command="pass show mail#1 ; from pass"), CONFIG)
    assert config.smtp is not None
    assert config.smtp.host == "mail.example.com"
    assert config.smtp.password_command == "pass show mail#1"


def test_a_password_command_cut_short_by_a_comment_is_a_warning_naming_what_runs() -> None:
    config = parse_config(smtp_config(host="mail.example.com", user="you",
                                      password_command="gpg -d pw.gpg ; echo x"), CONFIG)
    assert config.warnings == (CONFIG_PROBLEM.format(path=CONFIG, section="smtp", key="password_command",
                                                     problem=COMMAND_CUT.format(command="gpg -d pw.gpg")),)


def test_the_original_scripts_plaintext_password_is_read_whole_comment_markers_included() -> None:
    config = parse_config(smtp_config(host="mail.example.com", user="you", password="p4ss ;word #1"), CONFIG)
    assert config.smtp is not None and config.smtp.plaintext_password == "p4ss ;word #1"
    assert config.warnings == ()


@pytest.mark.parametrize("value", ["pass show mail ; true", "#1", "a\tb #c"])
def test_render_config_refuses_a_value_that_would_read_back_cut_by_a_comment(value: str) -> None:
    config = parse_config(smtp_config(host="mail.example.com", user="you"), CONFIG)
    assert config.smtp is not None
    config = config._replace(smtp=config.smtp._replace(password_command=value))
    with pytest.raises(ValueError) as raised:
        render_config(config)
    assert str(raised.value) == UNWRITABLE_COMMENT.format(section="smtp", key="password_command", value=value)


def test_render_config_keeps_a_hash_without_a_blank_before_it() -> None:
    config = parse_config(smtp_config(host="mail.example.com", user="you", password_command="pass show mail#1"),
                          CONFIG)
    assert parse_config(render_config(config), CONFIG).smtp == config.smtp

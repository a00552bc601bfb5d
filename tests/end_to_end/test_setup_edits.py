"""A re-run of ``setup`` edits the config in place: at a terminal and with flags, over a file a person wrote.

The file has comments, an inline comment, a push channel with its section and [rules]; setup changes
only the key the person changed and shows the change as a diff first; ``--dry-run`` prints only the diff.
"""

from pathlib import Path
from typing import List

import pytest

from app.commands.setup import ASK_CHANNEL, ASK_FROM, ASK_HOST, ASK_METHOD, ASK_PORT, ASK_SECURITY, ASK_TEST_EMAIL, \
    ASK_TO, ASK_USER, CHANNELS_KEPT
from app.commands.setup_apply import CONFIG_DIFF, CONFIG_UNCHANGED
from app.system.paths import Paths
from helpers import pyz_env, run_pyz
from support.mailsink import MailSink
from support.terminal import Terminal

NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}

WRITTEN = """# ssh_alert for web1: keep this comment
[alert]
to = owner@example.com   ; the on-call inbox
from = ssh-alert@example.com
method = smtp
channels = email, ntfy
host_label = web1.example.com
reverse_dns = no
# digests for the deploy bursts
digest_after = 1000

[smtp]
host = {host}
port = {port}
security = none
timeout = 5

[ntfy]
url = https://ntfy.example.net/alerts
secret_store = none

[rules]
root-anywhere = user root -> urgent
"""


def written(paths: Paths, server: MailSink) -> str:
    text = WRITTEN.format(host=server.host, port=server.port)
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text(text)
    paths.config_file.chmod(0o600)
    return text


@pytest.fixture
def terminal(home: Path, shiv_root: Path, pyz: Path):
    started: List[Terminal] = []

    def start(*arguments: str) -> Terminal:
        session = Terminal(["setup", "--no-dns-check"] + list(arguments), pyz_env(home, shiv_root, **NO_KEYRING))
        started.append(session)
        return session

    yield start
    for session in started:
        session.close()


def test_an_interactive_re_run_changes_only_the_recipient_and_keeps_comments_channels_and_rules(
        terminal, paths: Paths, sink: MailSink):
    before = written(paths, sink)
    session = terminal()
    session.answer(ASK_TO + " [owner@example.com]", "changed@example.com")
    session.answer(ASK_FROM + " [ssh-alert@example.com]", "")
    if session.expect(ASK_METHOD, ASK_HOST) == ASK_METHOD:
        session.answer("[smtp]", "")
        session.expect(ASK_HOST)
    session.answer("[{}]".format(sink.host), "")
    session.answer(ASK_PORT + " [{}]".format(sink.port), "")
    session.answer(ASK_SECURITY + " (ssl/starttls/none) [none]", "")
    session.answer(ASK_USER, "")
    session.expect("Connection test passed")
    session.answer(ASK_TEST_EMAIL, "n")
    session.expect(CONFIG_DIFF.format(path=paths.config_file))
    session.expect("-to = owner@example.com   ; the on-call inbox")
    session.expect("+to = changed@example.com   ; the on-call inbox")
    session.expect(CHANNELS_KEPT.format(channels="ntfy"))
    session.answer(ASK_CHANNEL, "")  # none: the ntfy channel stays as it is
    assert session.finish() == 0, session.output
    assert paths.config_file.read_text() == before.replace("to = owner@example.com ", "to = changed@example.com ")
    assert sink.messages == []


def test_an_interactive_re_run_that_changes_nothing_leaves_the_file_byte_identical(
        terminal, paths: Paths, sink: MailSink):
    before = written(paths, sink)
    session = terminal("--yes")
    for question in (ASK_TO, ASK_FROM):
        session.answer(question, "")
    if session.expect(ASK_METHOD, ASK_HOST) == ASK_METHOD:
        session.answer("[smtp]", "")
        session.expect(ASK_HOST)
    for question in (": ", ASK_PORT, ASK_SECURITY, ASK_USER):
        session.answer(question, "")
    session.expect(CONFIG_UNCHANGED.format(path=paths.config_file))
    assert session.finish() == 0, session.output
    assert paths.config_file.read_text() == before


def test_a_non_interactive_re_run_with_one_flag_keeps_the_rest_of_the_file(
        paths: Paths, sink: MailSink, home: Path, shiv_root: Path, pyz: Path):
    before = written(paths, sink)
    result = run_pyz(pyz, ["setup", "--non-interactive", "--no-dns-check", "--no-test-email",
                           "--from", "alerts@example.com"], pyz_env(home, shiv_root, **NO_KEYRING))
    assert result.returncode == 0, result.stderr + result.stdout
    assert "+from = alerts@example.com" in result.stdout
    assert paths.config_file.read_text() == before.replace("from = ssh-alert@", "from = alerts@")


def test_dry_run_prints_only_the_diff_and_changes_nothing(
        paths: Paths, sink: MailSink, home: Path, shiv_root: Path, pyz: Path):
    before = written(paths, sink)
    result = run_pyz(pyz, ["setup", "--non-interactive", "--no-dns-check", "--dry-run", "--smtp-port", "2526"],
                     pyz_env(home, shiv_root, **NO_KEYRING))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        CONFIG_DIFF.format(path=paths.config_file),
        "--- {} (now)".format(paths.config_file), "+++ {} (setup)".format(paths.config_file),
        "@@ -13,3 +13,3 @@", " host = {}".format(sink.host), "-port = {}".format(sink.port), "+port = 2526",
        " security = none"]
    assert paths.config_file.read_text() == before
    assert not paths.store_file.exists() and sink.messages == []


def test_a_re_run_over_a_file_with_a_misspelt_key_names_it_and_saves_nothing(
        paths: Paths, sink: MailSink, home: Path, shiv_root: Path, pyz: Path):
    before = written(paths, sink).replace("reverse_dns = no", "revers_dns = no")
    paths.config_file.write_text(before)
    result = run_pyz(pyz, ["setup", "--non-interactive", "--no-dns-check", "--no-test-email", "--to",
                           "owner@example.com", "--from", "ssh-alert@example.com", "--method", "smtp",
                           "--smtp-host", sink.host, "--smtp-port", str(sink.port), "--smtp-security", "none"],
                     pyz_env(home, shiv_root, **NO_KEYRING))
    assert result.returncode == 2 and result.stdout == ""
    assert "revers_dns: unknown key (did you mean reverse_dns?)" in result.stderr
    assert "nothing was saved" in result.stderr
    assert paths.config_file.read_text() == before and not paths.store_file.exists()

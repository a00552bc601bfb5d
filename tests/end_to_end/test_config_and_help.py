"""``config check``, ``config show``, ``check`` on a broken config, and ``help TOPIC`` from inside the pyz."""

import json
from pathlib import Path

import pytest

from app.cli import main
from app.commands.config import REDACTED, VALID
from app.errors import CONFIG_PROBLEM, UNKNOWN_KEY, UNKNOWN_SECTION
from app.system.paths import Paths
from helpers import ROOT, pyz_env, run_pyz, write_config


def run(capsys: pytest.CaptureFixture, *argv: str):  # type: ignore[no-untyped-def]
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def broken(paths: Paths) -> Path:
    path = write_config(paths, smtp={"host": "mail.example.com", "securty": "ssl"})
    with open(str(path), "a") as handle:
        handle.write("[smpt]\nport = 465\n")
    return path


def test_config_check_names_each_problem_with_a_did_you_mean_and_exits_2(paths: Paths,
                                                                          capsys: pytest.CaptureFixture):
    path = broken(paths)
    code, out, err = run(capsys, "config", "check")
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "ssh_alert: " + CONFIG_PROBLEM.format(path=path, section="smtp", key="securty",
                                             problem=UNKNOWN_KEY.format(hint=" (did you mean security?)")),
        "ssh_alert: " + UNKNOWN_SECTION.format(path=path, section="smpt", hint=" (did you mean [smtp]?)")]


def test_config_check_of_a_valid_file_says_so(paths: Paths, capsys: pytest.CaptureFixture):
    path = write_config(paths, smtp={"host": "mail.example.com"})
    assert run(capsys, "config", "check") == (0, VALID.format(path=path) + "\n", "")


def test_check_exits_2_on_an_invalid_config_even_with_nothing_pending(paths: Paths, capsys: pytest.CaptureFixture):
    write_config(paths, smtp={"host": "127.0.0.1", "port": "9", "security": "none"})
    assert run(capsys, "check")[0] == 0  # seeds: nothing pending from now on
    assert run(capsys, "check")[0] == 0
    broken(paths)
    code, _, err = run(capsys, "check")
    assert code == 2 and "did you mean security?" in err


def test_config_show_gives_each_value_its_source_and_never_a_secret(paths: Paths, capsys: pytest.CaptureFixture):
    write_config(paths, alert={"heartbeat_url": "https://hc.example/ping/uuid-secret"},
                 smtp={"host": "localhost", "user": "alice", "password": "pw-secret", "security": "none"})
    code, out, _ = run(capsys, "config", "show")
    assert code == 0 and "secret" not in out
    assert "host = localhost   ; file" in out.splitlines() and "max_per_hour = 10000   ; file" in out.splitlines()
    assert "notify = all   ; default" in out.splitlines()
    code, out, _ = run(capsys, "config", "show", "--json")
    rows = {(row["section"], row["key"]): row for row in json.loads(out)}
    assert rows[("smtp", "password")]["value"] == REDACTED and rows[("alert", "heartbeat_url")]["value"] == REDACTED
    assert rows[("smtp", "port")] == {"section": "smtp", "key": "port", "value": "25", "source": "default"}


def test_config_help_lists_every_key_of_the_schema(capsys: pytest.CaptureFixture):
    from app.settings.schema import KEYS

    with pytest.raises(SystemExit):
        main(["config", "--help"])
    out = capsys.readouterr().out
    assert all("    {} = ".format(key.name) in out for key in KEYS)


def test_help_prints_each_docs_page_from_inside_the_pyz_without_the_repository(
        pyz: Path, home: Path, shiv_root: Path, tmp_path: Path):
    lonely = tmp_path / "only" / "ssh_alert.pyz"  # a pyz-only user: no checkout next to it
    lonely.parent.mkdir()
    lonely.write_bytes(pyz.read_bytes())
    listing = run_pyz(lonely, ["help"], pyz_env(home, shiv_root))
    assert listing.returncode == 0
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert "  " + page.stem in listing.stdout.splitlines()
        shown = run_pyz(lonely, ["help", page.stem], pyz_env(home, shiv_root))
        assert shown.returncode == 0 and shown.stdout == page.read_text(encoding="utf-8").rstrip("\n") + "\n"
    unknown = run_pyz(lonely, ["help", "nothing-like-it"], pyz_env(home, shiv_root))
    assert unknown.returncode == 2 and "topics: " in unknown.stderr


def test_the_readme_is_short_links_every_docs_page_and_keeps_the_two_developer_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 80
    assert "make demo" in readme and "make test" in readme and "ssh_alert.pyz help" in readme
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert "(docs/{})".format(page.name) in readme, page.name


def test_the_readme_alert_is_what_the_renderer_writes():
    import base64
    import hashlib
    import re

    from app.logins.loginline import parse_line
    from app.check.render import AlertContext, Envelope, build_alert

    blob = base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + hashlib.sha256(b"x").digest()).decode()
    record = parse_line(("2026-12-07 09:14:03 +0000 203.0.113.7 alice publickey cport=51234 saddr=10.0.0.1 "
                         "sport=22 tty=/dev/pts/0 hook=ssh-rc epoch=1796634843 keytype=ssh-ed25519 key="
                         + blob).encode())
    message = build_alert(record, Envelope("ssh-alert@web1.example.com", ("you@example.com",), "web1.example.com"),
                          "Mon, 07 Dec 2026 09:14:04 +0000", "<x@web1.example.com>",
                          AlertContext(key_comment="alice@laptop", new_ip=True, rdns="laptop.example.net"))
    shown = re.search(r"## An alert\n\n```\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    assert shown is not None
    rendered = "Subject: {}\n\n{}".format(message["Subject"], message.get_content())
    assert rendered.startswith(shown.group(1))  # the README leaves out the raw log line at the end

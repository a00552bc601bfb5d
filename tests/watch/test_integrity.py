"""ssh_alert's own parts watched: hook blocks, their files, the cron line, the pyz, PermitUserRC, ExposeAuthInfo.

Installed as install writes it (support.tamper.install_like), then edited as an intruder would."""

import os
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

import pytest

from app.watch.findings import Finding, stamped
from app.watch.integrity import (MATCH_NO, Readings, as_installed, carried, integrity_changes, integrity_snapshot,
                                    method_states, permit_user_rc)
from app.install.hooks import BEGIN, END, HookSettings, render_hook
from app.system.paths import Paths
from support.tamper import (Installed, append_line, as_reader, delete_between, install_like, sed_in_place,
                            set_mtime, shared_home)

NOW = 1700000600.0
CHANGED = 1700000000.0


@pytest.fixture
def home() -> Iterator[Path]:
    with shared_home() as home:
        yield home


@pytest.fixture
def installed(paths: Paths) -> Installed:
    (paths.home / ".bashrc").write_text("alias ll='ls -l'\n", encoding="utf-8")
    return install_like(paths)


class Watcher:
    """Takes snapshots as the cron run does and keeps the last one, as the store would."""

    def __init__(self, paths: Paths, installed: Installed) -> None:
        self.paths, self.installed, self.now = paths, installed, NOW
        self.crontab: Optional[str] = installed.crontab_text
        self.sshd: str = "permituserrc yes\n"
        self.methods: Sequence[Sequence[str]] = [("publickey",)]
        self.previous = self.take()

    def take(self) -> dict:
        readings = Readings(self.crontab, self.installed.pyz, self.installed.pyz_hash, self.methods, self.sshd)
        return as_reader(lambda: integrity_snapshot(self.paths, readings, self.now))

    def changes(self) -> List[Finding]:
        self.now += 60
        current = self.take()
        findings = integrity_changes(self.previous, current)
        self.previous = stamped(self.previous, carried(self.previous, current), self.now)
        return findings


@pytest.fixture
def watcher(paths: Paths, installed: Installed) -> Watcher:
    return Watcher(paths, installed)


def kinds(findings: List[Finding]) -> List[str]:
    return [finding.kind for finding in findings]


def test_first_run_records_the_installation_without_findings(paths: Paths, watcher: Watcher) -> None:
    first = watcher.previous
    assert integrity_changes(None, first) == [] and integrity_changes({}, first) == []
    assert all(entry["sha256"] and entry["as_installed"] for entry in first["hooks"].values())
    assert first["cron"]["line"] and first["pyz"]["sha256"] == watcher.installed.pyz_hash
    assert watcher.changes() == []


def test_the_installed_blocks_are_what_install_writes(paths: Paths, installed: Installed) -> None:
    text = (paths.home / ".bashrc").read_text(encoding="utf-8")
    block = text[text.index(BEGIN):text.index(END) + len(END) + 1]
    assert as_installed(block, "bashrc", str(paths.home))
    assert not as_installed(block.replace("sa_wait=3", "sa_wait=0"), "bashrc", str(paths.home))
    assert not as_installed(render_hook(HookSettings()), "ssh-rc", str(paths.home))  # another hook's block


def test_deleting_the_hook_block_lines_is_reported_with_the_install_command(paths: Paths, watcher: Watcher) -> None:
    delete_between(paths.home / ".bashrc", BEGIN, END)
    set_mtime(paths.home / ".bashrc", CHANGED)
    findings = watcher.changes()
    assert kinds(findings) == ["hook-removed"] and findings[0].urgent
    assert "~/.bashrc" in findings[0].title and "run: ~/bin/ssh_alert.pyz install" in findings[0].text
    assert "alias ll" in (paths.home / ".bashrc").read_text() and watcher.changes() == []


def test_editing_a_line_inside_the_block_is_reported(paths: Paths, watcher: Watcher) -> None:
    sed_in_place(paths.home / ".ssh/rc", lambda line: line.replace("sa_go=1", "sa_go="))
    findings = watcher.changes()
    assert kinds(findings) == ["hook-edited"] and "not what install writes" in findings[0].text
    assert watcher.changes() == []


def test_pointing_the_hook_at_another_interpreter_is_reported_though_install_could_have_written_it(
        paths: Paths, watcher: Watcher) -> None:
    sed_in_place(paths.home / ".bash_profile", lambda line: line.replace("sa_py=/usr/bin/python3", "sa_py=/tmp/py"))
    findings = watcher.changes()
    assert kinds(findings) == ["hook-edited"] and "now runs /tmp/py" in findings[0].text


def test_install_rewriting_an_old_block_with_the_current_template_is_silent(paths: Paths, installed: Installed) -> None:
    sed_in_place(paths.home / ".bashrc", lambda line: line.replace("sa_wait=3", "sa_wait=2"))  # an older release's
    watcher = Watcher(paths, installed)
    install_like(paths)
    assert watcher.changes() == []


def test_chmod_000_on_ssh_rc_is_reported_once_with_the_chmod_that_restores_it(paths: Paths, watcher: Watcher) -> None:
    (paths.home / ".ssh/rc").chmod(0o000)
    findings = watcher.changes()
    assert kinds(findings) == ["hook-file"] and "run: chmod 644 ~/.ssh/rc" in findings[0].text
    assert watcher.changes() == []
    (paths.home / ".ssh/rc").chmod(0o644)
    assert watcher.changes() == []


def test_a_block_edited_while_its_file_was_unreadable_is_reported_when_it_can_be_read_again(
        paths: Paths, watcher: Watcher) -> None:
    (paths.home / ".bashrc").chmod(0o000)
    assert kinds(watcher.changes()) == ["hook-file"]
    delete_between(paths.home / ".bashrc", BEGIN, END)
    (paths.home / ".bashrc").chmod(0o644)
    assert kinds(watcher.changes()) == ["hook-removed"]


def test_a_new_bash_profile_that_hides_the_profile_hook_is_reported(paths: Paths, home: Path) -> None:
    (home / ".profile").write_text("PATH=$HOME/bin:$PATH\n", encoding="utf-8")
    installed = install_like(paths, hooks=("bash-profile",))
    assert "ssh_alert" in (home / ".profile").read_text()
    watcher = Watcher(paths, installed)
    append_line(home / ".bash_profile", "echo hi")
    findings = watcher.changes()
    assert kinds(findings) == ["hook-removed"] and "skips ~/.profile" in findings[0].text


def test_the_cron_line_gone_is_reported_once(watcher: Watcher) -> None:
    watcher.crontab = "".join(line + "\n" for line in watcher.crontab.splitlines() if "# ssh_alert" not in line)
    findings = watcher.changes()
    assert kinds(findings) == ["cron-removed"] and "run: ~/bin/ssh_alert.pyz install" in findings[0].text
    assert watcher.changes() == []


def test_a_crontab_that_cannot_be_read_keeps_the_cron_line_it_had(watcher: Watcher) -> None:
    text = watcher.crontab or ""
    watcher.crontab = None
    assert watcher.changes() == []
    watcher.crontab = text
    assert watcher.changes() == []
    watcher.crontab = text.replace("* * * * *", "# * * * * *")  # crontab -e: the line commented out
    assert kinds(watcher.changes()) == ["cron-removed"]


def test_replacing_the_pyz_is_reported_against_the_recorded_hash(watcher: Watcher) -> None:
    replacement = watcher.installed.pyz.with_name("new.pyz")
    replacement.write_bytes(b"PK evil")
    os.replace(str(replacement), str(watcher.installed.pyz))
    findings = watcher.changes()
    assert kinds(findings) == ["pyz-replaced"] and findings[0].urgent
    assert "install recorded " + watcher.installed.pyz_hash in findings[0].text
    assert watcher.changes() == []


def test_an_upgrade_that_matches_the_recorded_hash_is_silent(paths: Paths, watcher: Watcher) -> None:
    watcher.installed = install_like(paths, pyz_bytes=b"PK release 2")
    assert watcher.changes() == []


def test_a_pyz_turned_into_a_symlink_is_reported(watcher: Watcher, tmp_path: Path) -> None:
    watcher.installed.pyz.unlink()
    watcher.installed.pyz.symlink_to(tmp_path / "elsewhere.pyz")
    findings = watcher.changes()
    assert kinds(findings) == ["pyz-replaced"] and "a symbolic link" in findings[0].title


@pytest.mark.parametrize("text, value", [
    ("", None), ("port 22\npermituserrc yes\n", "yes"), ("port 22\npermituserrc no\n", "no"),
    ("Port 22\n#PermitUserRC no\n", "yes"), ("PermitUserRC=No\n", "no"),
    ("PermitUserRC yes\nPermitUserRC no\n", "yes"), ("Match User alice\n  PermitUserRC no\n", MATCH_NO)])
def test_permit_user_rc_is_read_from_sshd_t_output_and_sshd_config(text: str, value: Optional[str]) -> None:
    assert permit_user_rc(text) == value


def test_permit_user_rc_no_is_reported_once(watcher: Watcher) -> None:
    watcher.sshd = "port 22\npermituserrc no\n"
    findings = watcher.changes()
    assert kinds(findings) == ["permit-user-rc"] and "PermitUserRC no" in findings[0].text
    watcher.sshd = ""  # sshd's settings unreadable this time: no news
    assert watcher.changes() == []
    watcher.sshd = "port 22\npermituserrc no\n"
    assert watcher.changes() == []


def test_methods_are_known_unless_missing_or_unknown() -> None:
    assert method_states([("publickey",), "publickey,password", ("unknown",), (), ""]) == [
        "known", "known", "unknown", "unknown", "unknown"]


def test_expose_auth_info_switched_off_is_reported_once(watcher: Watcher) -> None:
    watcher.methods = [("publickey",), ("publickey",), ("unknown",)]
    findings = watcher.changes()
    assert kinds(findings) == ["auth-info-off"] and "ExposeAuthInfo" in findings[0].text
    watcher.methods = [("publickey",), ("unknown",), ("unknown",)]
    assert watcher.changes() == []
    watcher.methods = [("unknown",), ("unknown",), ("publickey",)]
    assert watcher.changes() == []
    watcher.methods = [("unknown",), ("publickey",), ("unknown",)]
    again = watcher.changes()
    assert kinds(again) == ["auth-info-off"] and again[0].key != findings[0].key


def test_same_state_gives_no_findings_and_a_rerun_gives_the_same_keys(watcher: Watcher, paths: Paths) -> None:
    delete_between(paths.home / ".ssh/rc", BEGIN, END)
    watcher.crontab = ""
    current = watcher.take()
    first = integrity_changes(watcher.previous, current)
    assert sorted(kinds(first)) == ["cron-removed", "hook-removed"]
    assert integrity_changes(watcher.previous, watcher.take()) == first
    assert integrity_changes(current, watcher.take()) == []

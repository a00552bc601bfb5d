"""watch(): the cron run's one call, from the stored snapshot (JSON, as the store keeps it) to the next and the
findings; and sshd_text(), sshd's settings as a user can read them."""

import json
import time
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import pytest

from app.watch.findings import Finding
from app.watch.integrity import Readings
from app.watch.watch import installed as recorded_install, sshd_text, watch
from app.install.hooks import BEGIN, END
from app.system.paths import Paths
from support.tamper import Installed, append_line, as_reader, delete_between, install_like, shared_home

NOW = 1700000000.0
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop"
EVIL = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBBBBnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl evil"
METHODS = [("publickey",)]


@pytest.fixture
def home() -> Iterator[Path]:
    with shared_home() as home:
        yield home


@pytest.fixture
def installed(paths: Paths) -> Installed:
    installed = install_like(paths)
    (paths.home / ".ssh" / "authorized_keys").write_text(KEY + "\n", encoding="utf-8")
    return installed


def run(paths: Paths, installed: Installed, previous: Optional[dict], now: float, sshd: str = "",
        crontab: Optional[str] = None) -> Tuple[dict, List[Finding]]:
    """One cron run as nobody, the snapshot passed through JSON as the store keeps it."""
    text = installed.crontab_text if crontab is None else crontab
    stored = json.loads(json.dumps(previous)) if previous is not None else None
    snapshot, findings = as_reader(lambda: watch(paths, stored, Readings(text, installed.pyz, installed.pyz_hash, METHODS, sshd), now))
    assert json.loads(json.dumps(snapshot)) == snapshot
    return snapshot, findings


def kinds(findings: List[Finding]) -> List[str]:
    return sorted(finding.kind for finding in findings)


def test_first_run_records_keys_without_findings(paths: Paths, installed: Installed) -> None:
    for previous in (None, {}, {"format": 99, "keys": {}}, {"format": 1, "keys": "damaged"}):
        snapshot, findings = run(paths, installed, previous, NOW)
        assert findings == [] and len(snapshot["keys"]["keys"]) == 1


def test_an_unchanged_run_returns_the_snapshot_it_was_given(paths: Paths, installed: Installed) -> None:
    first, _ = run(paths, installed, None, NOW)
    second, findings = run(paths, installed, first, NOW + 60)
    assert findings == [] and second == first  # equal: the caller need not write it


def test_an_intruder_adding_a_key_and_removing_the_hook_is_reported_once(paths: Paths, installed: Installed) -> None:
    first, _ = run(paths, installed, None, NOW)
    append_line(paths.home / ".ssh" / "authorized_keys", EVIL)
    delete_between(paths.home / ".bashrc", BEGIN, END)
    second, findings = run(paths, installed, first, NOW + 60)
    assert kinds(findings) == ["hook-removed", "key-added"]
    assert any("~/.ssh/authorized_keys" in finding.title for finding in findings)
    assert run(paths, installed, second, NOW + 120)[1] == []


def test_same_change_is_reported_once(paths: Paths, installed: Installed) -> None:
    first, _ = run(paths, installed, None, NOW)
    append_line(paths.home / ".ssh" / "authorized_keys", EVIL)
    second, reported = run(paths, installed, first, NOW + 60)
    _, rerun = run(paths, installed, first, NOW + 120)  # the first run crashed before storing its snapshot
    assert [finding.key for finding in rerun] == [finding.key for finding in reported]
    path = paths.home / ".ssh" / "authorized_keys"
    path.write_text(KEY + "\n", encoding="utf-8")
    third, removed = run(paths, installed, second, NOW + 180)
    assert kinds(removed) == ["key-removed"]
    append_line(path, EVIL)
    _, again = run(paths, installed, third, NOW + 240)
    assert kinds(again) == ["key-added"] and again[0].key != reported[0].key


def test_unreadable_authorized_keys_is_not_reported_as_every_key_removed(paths: Paths, installed: Installed) -> None:
    path = paths.home / ".ssh" / "authorized_keys"
    append_line(path, EVIL)
    first, _ = run(paths, installed, None, NOW)
    path.chmod(0o000)
    second, findings = run(paths, installed, first, NOW + 60)
    assert kinds(findings) == ["key-file"]
    path.chmod(0o600)
    assert run(paths, installed, second, NOW + 120)[1] == []


def test_a_key_file_named_by_sshd_stays_watched_when_sshd_settings_cannot_be_read(paths: Paths,
                                                                                installed: Installed) -> None:
    extra = paths.home / "keys" / "extra"
    extra.parent.mkdir()
    extra.write_text(KEY.replace("alice@laptop", "deploy") + "\n", encoding="utf-8")
    first, _ = run(paths, installed, None, NOW, sshd="authorizedkeysfile .ssh/authorized_keys %h/keys/extra\n")
    assert str(extra) in first["keys"]["files"]
    second, findings = run(paths, installed, first, NOW + 60, sshd="")
    assert findings == []
    append_line(extra, EVIL)
    assert kinds(run(paths, installed, second, NOW + 120, sshd="")[1]) == ["key-added"]


def test_the_cron_line_and_pyz_are_watched_too(paths: Paths, installed: Installed) -> None:
    first, _ = run(paths, installed, None, NOW)
    installed.pyz.write_bytes(b"PK tampered")
    _, findings = run(paths, installed, first, NOW + 60, crontab="MAILTO=\"\"\n")
    assert kinds(findings) == ["cron-removed", "pyz-replaced"]


def test_installed_pyz_is_where_the_install_record_says(paths: Paths) -> None:
    assert recorded_install(paths)[0] == paths.home / "bin" / "ssh_alert.pyz"
    paths.state_dir.mkdir(parents=True)
    (paths.state_dir / "install.json").write_text('{"format": 1, "pyz": "/opt/tools/ssh_alert.pyz"}')
    assert recorded_install(paths)[0] == Path("/opt/tools/ssh_alert.pyz")
    (paths.state_dir / "install.json").write_text('{"format": 1, "pyz": "relative.pyz"}')
    assert recorded_install(paths)[0] == paths.home / "bin" / "ssh_alert.pyz"


def fake_sshd(tmp_path: Path, body: str) -> str:
    script = tmp_path / "sshd"
    script.write_text("#!/bin/sh\n" + body + "\n", encoding="utf-8")
    script.chmod(0o755)
    return str(script)


def test_sshd_text_is_sshd_t_output_when_sshd_runs_it(tmp_path: Path) -> None:
    sshd = fake_sshd(tmp_path, '[ "$1" = -T ] && printf "port 22\\npermituserrc no\\n"')
    assert sshd_text(sshd, tmp_path / "absent") == "port 22\npermituserrc no\n"


def test_sshd_text_falls_back_to_sshd_config_with_its_readable_include_files(home: Path) -> None:
    sshd = fake_sshd(home, 'echo "sshd: no hostkeys available -- exiting." >&2; exit 1')
    config = home / "sshd_config"
    (home / "sshd_config.d").mkdir()
    (home / "sshd_config.d" / "50-cloud.conf").write_text("PermitUserRC no\n")
    (home / "sshd_config.d" / "60-late.conf").write_text("AuthorizedKeysFile /srv/%u\n")
    (home / "sshd_config.d" / "70-secret.conf").write_text("PermitUserRC yes\n")
    (home / "sshd_config.d" / "70-secret.conf").chmod(0o000)
    config.write_text("Port 22\nInclude sshd_config.d/*.conf\nX11Forwarding no\n")
    text = as_reader(lambda: sshd_text(sshd, config))
    assert text == "Port 22\nPermitUserRC no\nAuthorizedKeysFile /srv/%u\nX11Forwarding no\n"


def test_sshd_text_does_not_wait_for_a_hanging_sshd(tmp_path: Path) -> None:
    sshd = fake_sshd(tmp_path, "sleep 30")
    config = tmp_path / "sshd_config"
    config.write_text("PermitUserRC no\n")
    started = time.monotonic()
    assert sshd_text(sshd, config, timeout=0.5) == "PermitUserRC no\n"
    assert time.monotonic() - started < 10


def test_sshd_text_without_sshd_or_config_is_empty(tmp_path: Path) -> None:
    assert sshd_text(str(tmp_path / "no-sshd"), tmp_path / "no-config") == ""

"""The built dist/ssh_alert.pyz, end to end: always run as a subprocess, never imported.

Covers what only the shipped artefact can show: it is pure Python and reproducible, it runs on every
supported interpreter, it fails in one line on old Pythons and unusable SHIV_ROOTs, it cleans up stale
extractions, its CLI keeps every error to one line per problem, and the login path stays lean.
(app.errors is imported for message texts only: it is a plain module with no side effects.)
"""

import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Dict, List

import pytest

from app.errors import NO_CONFIG
from helpers import (ROOT, SUPPORTED, append_log, login_line, pyenv_pythons, pyz_env, require, run_pyz,
                      smtp_settings, write_config)
from support.mailsink import MailSink

TOO_OLD = ("3.6", "3.7")
NATIVE = re.compile(r"\.(so(\.\d+)*|pyd|dylib|dll)$", re.IGNORECASE)
TOO_OLD_LINE = re.compile(r"ssh_alert needs Python 3\.8 or newer \(this is (\d+\.\d+\.\d+)\)\n\Z")
SUBJECT = "[NEW IP] SSH login: alice@web1.example.com from {}"  # each test logs in from a new address
TIMEOUT = 30


# --- helpers -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pythons() -> Dict[str, Path]:
    return pyenv_pythons()


def interpreter(pythons: Dict[str, Path], version: str) -> Path:
    require(version in pythons, "Python {} (pyenv) is not installed; found: {}".format(
        version, ", ".join(sorted(pythons)) or "none"))
    return pythons[version]


def build_id(pyz_path: Path) -> str:
    """The build id shiv recorded in the zip's environment.json (names the extraction directory)."""
    with zipfile.ZipFile(str(pyz_path)) as archive:
        return json.loads(archive.read("environment.json").decode("utf-8"))["build_id"]


def extraction_dir(root: Path, pyz_path: Path) -> Path:
    return root / "{}_{}".format(pyz_path.name, build_id(pyz_path))


def one_error_line(result: subprocess.CompletedProcess, exit_code: int) -> str:
    """Assert a failure printed exactly one line on stderr, no traceback, nothing on stdout; return it."""
    details = "exit {}\nstdout: {!r}\nstderr: {!r}".format(result.returncode, result.stdout, result.stderr)
    assert result.returncode == exit_code, details
    assert "Traceback" not in result.stderr + result.stdout, details
    assert result.stdout == "", details
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and result.stderr.endswith("\n"), details
    return lines[0]


def assert_silent_success(result: subprocess.CompletedProcess) -> None:
    assert (result.returncode, result.stdout, result.stderr) == (0, "", ""), result


def strict_encoding_flags(version: str) -> List[str]:
    """On 3.10+, every open() without encoding= warns (-X warn_default_encoding), and the warning is an error."""
    return ["-X", "warn_default_encoding", "-W", "error::EncodingWarning"] if version not in ("3.8", "3.9") else []


def run_strictly(python: Path, version: str, pyz_path: Path, arguments: List[str],
                 environ: Dict[str, str]) -> subprocess.CompletedProcess:
    """Run the pyz with python and strict_encoding_flags(version)."""
    return subprocess.run([str(python)] + strict_encoding_flags(version) + [str(pyz_path)] + arguments,
                          env=environ, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT)


def subjects(server: MailSink) -> List[str]:
    return [received.message["Subject"] for received in server.messages]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released: connecting is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def imported_modules(importtime_stderr: str) -> List[str]:
    """Module names from `python -X importtime` output ("import time: self | cumulative | name")."""
    names = []
    for line in importtime_stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.append(name)
    return names


def run_with_importtime(pyz_path: Path, arguments: List[str], environ: Dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-X", "importtime", str(pyz_path)] + arguments, env=environ,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT)


def loaded(modules: List[str], package: str) -> List[str]:
    return [name for name in modules if name == package or name.startswith(package + ".")]


# --- 1. the artefact -----------------------------------------------------------------------------------

def test_the_pyz_is_pure_python_with_its_dependencies_and_no_bytecode(pyz: Path):
    with zipfile.ZipFile(str(pyz)) as archive:
        names = archive.namelist()
    assert [name for name in names if NATIVE.search(name)] == []
    for package in ("keyring", "email_validator", "dns"):
        assert any(name.startswith("site-packages/{}/".format(package)) for name in names), package
    assert "site-packages/app/cli.py" in names
    assert [name for name in names if "__pycache__" in name.split("/") or name.endswith((".pyc", ".pyo"))] == []
    with open(str(pyz), "rb") as handle:
        assert handle.read(2) == b"#!"  # runs through its shebang too


def test_the_pyz_stays_within_one_megabyte_with_its_licences_and_metadata(pyz: Path):
    assert pyz.stat().st_size <= 1_000_000
    with zipfile.ZipFile(str(pyz)) as archive:
        names = archive.namelist()
    for distribution in ("keyring", "email_validator", "dnspython", "idna"):
        assert any(name.startswith("site-packages/" + distribution) and name.endswith(".dist-info/METADATA")
                   for name in names), distribution


def _build(tree: Path, umask: int, tz: str) -> bytes:
    environ = {key: value for key, value in os.environ.items() if key != "SOURCE_DATE_EPOCH"}
    environ["TZ"] = tz
    result = subprocess.run([sys.executable, str(tree / "build" / "build.py")], cwd=str(tree), env=environ,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, umask=umask)
    assert result.returncode == 0, result.stderr
    data = (tree / "dist" / "ssh_alert.pyz").read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    assert result.stdout == "dist/ssh_alert.pyz {} bytes sha256:{}\n".format(len(data), digest)
    return data


def test_two_builds_of_the_same_tree_are_byte_identical(tmp_path: Path):
    # build.py always writes shiv.toml's output under its own tree, so build a copy of the tree: once,
    # then again after moving it elsewhere, with another umask and time zone (none may leak into the zip).
    tree = tmp_path / "first" / "src"
    tree.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.py[co]")
    for directory in ("app", "build"):
        shutil.copytree(str(ROOT / directory), str(tree / directory), ignore=ignore)
    for name in ("shiv.toml", "requirements.lock", "requirements-build.lock"):
        shutil.copy2(str(ROOT / name), str(tree / name))
    first = _build(tree, 0o022, "UTC")
    moved = tmp_path / "second-with-a-longer-path" / "checkout"
    moved.parent.mkdir()
    tree.rename(moved)
    shutil.rmtree(str(moved / "dist"))
    second = _build(moved, 0o077, "Asia/Kathmandu")
    assert hashlib.sha256(first).hexdigest() == hashlib.sha256(second).hexdigest()
    assert first == second


# --- 3. every supported interpreter --------------------------------------------------------------------

@pytest.mark.parametrize("version", SUPPORTED)
def test_the_pyz_prints_its_version_on_every_supported_python(version: str, pythons, pyz: Path, shiv_root: Path,
                                                              home: Path):
    python = interpreter(pythons, version)
    result = run_pyz(pyz, ["--version"], pyz_env(home, shiv_root), python=python, timeout=TIMEOUT)
    assert (result.returncode, result.stderr) == (0, ""), result
    assert re.fullmatch(r"ssh_alert \d+\.\d+\.\d+\S*\n", result.stdout), result.stdout


@pytest.mark.parametrize("version", SUPPORTED)
def test_the_pyz_seeds_then_alerts_a_new_login_on_every_supported_python_opening_no_file_without_encoding(
        version: str, pythons, pyz: Path, paths, sink: MailSink, tmp_path: Path):
    python = interpreter(pythons, version)
    environ = pyz_env(paths.home, tmp_path / "shiv")  # the first run unpacks through shiv, the others do not
    write_config(paths, smtp=smtp_settings(sink))
    append_log(paths, login_line(ip="198.51.100.1"))
    assert_silent_success(run_strictly(python, version, pyz, ["check"], environ))
    assert sink.messages == []
    assert paths.store_file.exists()
    append_log(paths, login_line(ip="198.51.100.2"))
    assert_silent_success(run_strictly(python, version, pyz, ["check"], environ))
    assert [m.message["Subject"] for m in sink.wait_for(1)] == [SUBJECT.format("198.51.100.2")]
    result = run_strictly(python, version, pyz, ["status"], environ)
    assert "EncodingWarning" not in result.stdout + result.stderr, result
    assert_silent_success(run_strictly(python, version, pyz, ["check"], environ))
    assert len(sink.messages) == 1


@pytest.mark.parametrize("version", SUPPORTED)
def test_the_pyz_pushes_and_logs_a_login_on_every_supported_python(version: str, pythons, pyz: Path, paths,
                                                                   sink: MailSink, tmp_path: Path):
    """The channels' code (urllib, ssl, threads, the signature, syslog) on each interpreter, strictly."""
    import socket

    from support.httpsworld import HttpsWorld

    python = interpreter(pythons, version)
    environ = pyz_env(paths.home, tmp_path / "shiv")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(tmp_path / "log"))
    listener.settimeout(5)
    with HttpsWorld(api="ntfy") as receiver:  # ntfy's answer, which the webhook takes as any 2xx
        write_config(paths, alert={"channels": "email, webhook, ntfy", "syslog": "yes",
                                   "syslog_socket": str(tmp_path / "log")}, smtp=smtp_settings(sink))
        with open(str(paths.config_file), "a") as handle:
            handle.write("[webhook]\nurl = {url}/hook\nsigning_secret_command = echo whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2"
                         "LaLaSw\nca_file = {ca}\n[ntfy]\nurl = {url}/topic\nsecret_store = none\nca_file = {ca}\n"
                         .format(url=receiver.url, ca=receiver.ca_file))
        assert_silent_success(run_strictly(python, version, pyz, ["check"], environ))
        append_log(paths, login_line(ip="198.51.100.9"))
        assert_silent_success(run_strictly(python, version, pyz, ["check"], environ))
        assert sorted(request.path for request in receiver.requests) == ["/hook", "/topic"]
        assert "webhook-signature" in {request.path: request for request in receiver.requests}["/hook"].headers
    assert "ip=198.51.100.9" in listener.recv(4096).decode()
    listener.close()
    assert len(sink.messages) == 1


# --- 4. too-old interpreters ---------------------------------------------------------------------------

@pytest.mark.parametrize("version", TOO_OLD)
def test_a_too_old_python_gets_one_line_naming_its_version_and_exit_2(version: str, pythons, pyz: Path,
                                                                     home: Path, tmp_path: Path):
    python = interpreter(pythons, version)
    real = subprocess.run([str(python), "-c", "import sys; print('.'.join(map(str, sys.version_info[:3])))"],
                          capture_output=True, text=True, timeout=TIMEOUT, check=True).stdout.strip()
    root = tmp_path / "never-created"
    for arguments in (["check"], ["--version"]):
        result = run_pyz(pyz, arguments, pyz_env(home, root), python=python, timeout=TIMEOUT)
        line = one_error_line(result, 2)
        match = TOO_OLD_LINE.fullmatch(line + "\n")
        assert match and match.group(1) == real, line
    assert not root.exists()  # refused before shiv unpacked anything


def test_python_2_gets_the_same_one_line_refusal(pyz: Path, home: Path, tmp_path: Path):
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = sorted(Path(root, "versions").glob("2.7*/bin/python2"))
    if not found:
        pytest.skip("no pyenv Python 2.7 (optional: the entry module promises to parse on 2.7)")
    line = one_error_line(run_pyz(pyz, ["check"], pyz_env(home, tmp_path / "root"), python=found[0],
                                  timeout=TIMEOUT), 2)
    assert TOO_OLD_LINE.fullmatch(line + "\n") and "(this is 2.7." in line, line


# --- 5. where it unpacks -------------------------------------------------------------------------------

def test_an_unwritable_shiv_root_fails_in_one_line_before_unpacking(pyz: Path, home: Path):
    result = run_pyz(pyz, ["check"], pyz_env(home, SHIV_ROOT="/proc/ssh-alert-nope"), timeout=TIMEOUT)
    line = one_error_line(result, 2)
    assert line.startswith("ssh_alert: cannot unpack into /proc/ssh-alert-nope ("), line
    assert "SHIV_ROOT" in line


def test_a_shiv_root_that_is_a_file_fails_in_one_line(pyz: Path, home: Path, tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    line = one_error_line(run_pyz(pyz, ["--version"], pyz_env(home, blocker), timeout=TIMEOUT), 2)
    assert line.startswith("ssh_alert: cannot unpack into {} (not a directory)".format(blocker)), line


def test_without_shiv_root_the_pyz_unpacks_under_home(pyz: Path, home: Path):
    environ = pyz_env(home)
    assert "SHIV_ROOT" not in environ
    result = run_pyz(pyz, ["--version"], environ, timeout=TIMEOUT)
    assert result.returncode == 0 and result.stdout.startswith("ssh_alert "), result
    assert (extraction_dir(home / ".shiv", pyz) / "site-packages" / "app" / "cli.py").is_file()


# --- 6. stale extractions ------------------------------------------------------------------------------

def _fake_extraction(root: Path, pyz_path: Path, build: str) -> Path:
    directory = root / "{}_{}".format(pyz_path.name, build)
    (directory / "site-packages" / "app").mkdir(parents=True)
    (directory / "site-packages" / "app" / "__init__.py").write_text("# an older build\n")
    (root / ".{}_{}_lock".format(pyz_path.name, build)).write_text("")
    return directory


def test_stale_extractions_of_other_builds_are_removed_and_the_current_one_kept(pyz: Path, home: Path,
                                                                                tmp_path: Path):
    root = tmp_path / "shiv"
    root.mkdir()
    current = extraction_dir(root, pyz)
    stale_id = hashlib.sha256(b"an older build").hexdigest()
    assert stale_id != build_id(pyz)
    stale = _fake_extraction(root, pyz, stale_id)
    half_done = root / (stale.name + ".tmp")  # an interrupted unpack of the older build
    (half_done / "site-packages").mkdir(parents=True)
    unrelated = root / "something_else"
    (unrelated / "site-packages").mkdir(parents=True)
    (unrelated / "keep.txt").write_text("mine\n")
    other_tool = root / "other.pyz_{}".format(stale_id)  # another zipapp's extraction shares the root
    (other_tool / "site-packages").mkdir(parents=True)

    result = run_pyz(pyz, ["--version"], pyz_env(home, root), timeout=TIMEOUT)
    assert result.returncode == 0 and result.stderr == "", result
    assert not stale.exists()
    assert not half_done.exists()
    assert not (root / ".{}_lock".format(stale.name)).exists()
    assert current.name.endswith("_" + build_id(pyz))
    assert (current / "site-packages" / "app" / "cli.py").is_file()
    assert (unrelated / "keep.txt").read_text() == "mine\n"
    assert other_tool.is_dir()


def test_an_older_extraction_still_in_use_is_left_alone(pyz: Path, home: Path, tmp_path: Path):
    root = tmp_path / "shiv"
    root.mkdir()
    busy = _fake_extraction(root, pyz, "ab" * 32)
    descriptor = os.open(str(busy), os.O_RDONLY)  # what a running older build holds while it runs
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH)
        result = run_pyz(pyz, ["--version"], pyz_env(home, root), timeout=TIMEOUT)
        assert result.returncode == 0, result
        assert (busy / "site-packages" / "app" / "__init__.py").is_file()
    finally:
        os.close(descriptor)
    assert run_pyz(pyz, ["--version"], pyz_env(home, root), timeout=TIMEOUT).returncode == 0
    assert not busy.exists()  # released: the next run removes it


# --- 7. the CLI through the pyz ------------------------------------------------------------------------

def test_check_without_config_exits_2_with_the_setup_advice_and_writes_no_state(pyz: Path, shiv_root: Path,
                                                                                 paths):
    append_log(paths, login_line())
    line = one_error_line(run_pyz(pyz, ["check"], pyz_env(paths.home, shiv_root), timeout=TIMEOUT), 2)
    assert line == "ssh_alert: " + NO_CONFIG.format(path=paths.config_file)
    assert not paths.store_file.exists()


def test_a_config_with_several_problems_gets_one_line_each_naming_the_file_and_loses_no_alert(
        pyz: Path, shiv_root: Path, paths, sink: MailSink):
    environ = pyz_env(paths.home, shiv_root)
    write_config(paths, smtp=smtp_settings(sink))
    assert_silent_success(run_pyz(pyz, ["check"], environ, timeout=TIMEOUT))  # seeds
    write_config(paths, alert={"to": "nobody", "from": "", "method": "pigeon", "timeout": "soon"})
    append_log(paths, login_line(ip="198.51.100.9"))
    result = run_pyz(pyz, ["check"], environ, timeout=TIMEOUT)
    assert result.returncode == 2, result
    assert result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 4, lines
    for line, key in zip(lines, ("to", "from", "method", "timeout")):
        assert line.startswith("ssh_alert: {}: [alert] {}: ".format(paths.config_file, key)), line
    assert "pigeon" in result.stderr and "'soon'" in result.stderr
    assert sink.messages == []

    write_config(paths, smtp=smtp_settings(sink))  # fixed: the login recorded meanwhile is still alerted
    assert_silent_success(run_pyz(pyz, ["check"], environ, timeout=TIMEOUT))
    assert [m.message["Subject"] for m in sink.wait_for(1)] == [SUBJECT.format("198.51.100.9")]


def test_check_with_a_refused_delivery_exits_1_logs_it_and_delivers_on_the_next_run(pyz: Path, shiv_root: Path,
                                                                                      paths, sink: MailSink):
    environ = pyz_env(paths.home, shiv_root)
    write_config(paths, smtp=smtp_settings(sink, port=str(closed_port())))
    assert_silent_success(run_pyz(pyz, ["check"], environ, timeout=TIMEOUT))  # seeds
    append_log(paths, login_line(ip="198.51.100.7"))
    line = one_error_line(run_pyz(pyz, ["check"], environ, timeout=TIMEOUT), 1)
    assert line.startswith("ssh_alert: delivery failed: ") and "stay pending" in line, line
    assert "1 alert(s) stay pending" in line
    oplog = paths.oplog_file.read_text()
    assert "ERROR" in oplog and "delivery failed" in oplog, oplog

    write_config(paths, smtp=smtp_settings(sink))
    append_log(paths, login_line(ip="198.51.100.8"))
    assert_silent_success(run_pyz(pyz, ["check"], environ, timeout=TIMEOUT))
    sink.wait_for(2)
    assert subjects(sink) == [SUBJECT.format("198.51.100.7"), SUBJECT.format("198.51.100.8")]
    assert_silent_success(run_pyz(pyz, ["check"], environ, timeout=TIMEOUT))
    assert len(sink.messages) == 2


def test_status_json_prints_the_health_verdict_and_every_check(pyz: Path, shiv_root: Path, paths,
                                                               sink: MailSink):
    write_config(paths, smtp=smtp_settings(sink))
    result = run_pyz(pyz, ["status", "--json"], pyz_env(paths.home, shiv_root), timeout=TIMEOUT)
    assert result.stderr == "", result
    report = json.loads(result.stdout)
    assert set(report) >= {"healthy", "checks"}
    assert isinstance(report["healthy"], bool)
    assert result.returncode == (0 if report["healthy"] else 1), result
    names = [check["name"] for check in report["checks"]]
    assert {"version", "config"} <= set(names), names
    config = next(check for check in report["checks"] if check["name"] == "config")
    assert config["status"] == "ok", config
    assert all(set(check) == {"name", "status", "detail"} for check in report["checks"])
    assert sink.messages == []


def test_an_unknown_command_exits_2_with_one_line(pyz: Path, shiv_root: Path, home: Path):
    line = one_error_line(run_pyz(pyz, ["frobnicate"], pyz_env(home, shiv_root), timeout=TIMEOUT), 2)
    assert line.startswith("ssh_alert: ") and "frobnicate" in line, line


def test_the_test_command_sends_a_test_alert_through_the_sink(pyz: Path, shiv_root: Path, paths,
                                                              sink: MailSink):
    write_config(paths, smtp=smtp_settings(sink))
    result = run_pyz(pyz, ["test"], pyz_env(paths.home, shiv_root), timeout=TIMEOUT)
    assert (result.returncode, result.stderr) == (0, ""), result
    assert result.stdout.startswith("Test alert sent to owner@example.com"), result.stdout
    assert len(result.stdout.splitlines()) == 1
    assert sink.wait_for(1)[0].envelope_to == ["owner@example.com"]


# --- 8. the login path stays lean ----------------------------------------------------------------------

def test_the_login_path_imports_no_keyring_email_validator_typing_threading_or_stdlib_extras(
        pyz: Path, shiv_root: Path, paths, sink: MailSink):
    environ = pyz_env(paths.home, shiv_root)
    write_config(paths, smtp=smtp_settings(sink))  # no SMTP user: no password needed
    append_log(paths, login_line(ip="198.51.100.1"))
    assert_silent_success(run_pyz(pyz, ["check"], environ, timeout=TIMEOUT))  # seeds

    def check_with_importtime() -> List[str]:
        result = run_with_importtime(pyz, ["check"], environ)
        assert result.returncode == 0 and result.stdout == "", result
        other = [line for line in result.stderr.splitlines() if not line.startswith("import time:")]
        assert other == [], other
        modules = imported_modules(result.stderr)
        assert "app.commands.check" in modules  # the log really covers the command's imports
        return modules

    nothing_new = check_with_importtime()
    assert loaded(nothing_new, "keyring") == [] and loaded(nothing_new, "email_validator") == []
    assert sink.messages == []

    append_log(paths, login_line(ip="198.51.100.2"))
    one_alert = check_with_importtime()
    assert [m.message["Subject"] for m in sink.wait_for(1)] == [SUBJECT.format("198.51.100.2")]
    assert "app.channels.delivery" in one_alert  # this run did deliver
    assert loaded(one_alert, "keyring") == [], loaded(one_alert, "keyring")
    assert loaded(one_alert, "email_validator") == [], loaded(one_alert, "email_validator")
    # records are app.system.record's, annotations are never evaluated, lookups run on _thread; the
    # login's address is canonical without ipaddress, pathlib comes without urllib.parse, the deadline's
    # alarm without signal's enums
    assert [name for name in ("typing", "threading", "ipaddress", "urllib.parse", "signal", "encodings.ascii")
            if name in nothing_new + one_alert] == []


def test_a_plain_smtp_alert_loads_no_openssl_and_tls_ones_still_verify_and_log_in(
        pyz: Path, shiv_root: Path, paths, sink: MailSink, tls_sink: MailSink, ca, ca_file: Path):
    from app.settings import credentials
    from app.settings.secretstore import SecretsFile

    environ = pyz_env(paths.home, shiv_root)
    write_config(paths, smtp=smtp_settings(sink))
    append_log(paths, login_line(ip="198.51.100.3"))
    assert_silent_success(run_pyz(pyz, ["check"], environ, timeout=TIMEOUT))  # seeds
    append_log(paths, login_line(ip="198.51.100.4"))
    result = run_with_importtime(pyz, ["check"], environ)
    assert result.returncode == 0, result
    assert [m.message["Subject"] for m in sink.wait_for(1)] == [SUBJECT.format("198.51.100.4")]
    modules = imported_modules(result.stderr)
    assert "smtplib" in modules  # this run did speak SMTP
    assert [name for name in ("ssl", "_ssl", "hmac", "hashlib", "_hashlib") if name in modules] == []
    assert [name for name in ("typing", "threading") if name in modules] == []

    write_config(paths, smtp=smtp_settings(tls_sink, security="starttls", host="localhost", user="alice",
                                           password_store="file", ca_file=str(ca_file)))
    SecretsFile(paths.secrets_file).set_password(credentials.SERVICE, "alice", "s3cret")
    append_log(paths, login_line(ip="198.51.100.5"))
    assert_silent_success(run_pyz(pyz, ["check"], environ, timeout=TIMEOUT))
    (received,) = tls_sink.wait_for(1)
    assert (received.message["Subject"], received.auth_user) == (SUBJECT.format("198.51.100.5"), "alice")

    with MailSink("ssl", cert=ca.leaf()) as implicit_tls:  # smtplib.SMTP_SSL through the stand-in ssl module
        write_config(paths, smtp=smtp_settings(implicit_tls, security="ssl", host="localhost", ca_file=str(ca_file)))
        append_log(paths, login_line(ip="198.51.100.6"))
        assert_silent_success(run_pyz(pyz, ["check"], environ, timeout=TIMEOUT))
        assert [m.message["Subject"] for m in implicit_tls.wait_for(1)] == [SUBJECT.format("198.51.100.6")]


def test_an_unwritable_home_fails_in_one_line_naming_the_directory(pyz: Path):
    home = "/proc/ssh-alert-home"  # cannot be created, even by root
    finished = run_pyz(pyz, ["check"], {"HOME": home, "PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    assert finished.returncode == 2
    assert finished.stderr.startswith("ssh_alert: cannot unpack into {}/.shiv".format(home))
    assert len(finished.stderr.splitlines()) == 1 and "Traceback" not in finished.stderr


def test_check_with_an_unwritable_state_directory_fails_in_one_line(pyz: Path, shiv_root: Path, paths):
    write_config(paths, smtp={"host": "127.0.0.1", "port": "25", "security": "none"})
    environ = pyz_env(paths.home, shiv_root, XDG_STATE_HOME="/proc/ssh-alert-state")
    finished = run_pyz(pyz, ["check"], environ)
    assert finished.returncode == 2
    assert finished.stderr.startswith("ssh_alert: cannot write /proc/ssh-alert-state")
    assert len(finished.stderr.splitlines()) == 1 and "Traceback" not in finished.stderr

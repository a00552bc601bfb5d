"""Shared fixtures: a temporary HOME, real loopback mail servers, the built pyz. Helpers are in helpers.py."""

import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from helpers import PYZ, ROOT, smtp_settings, write_config  # noqa: E402
from app.store.store import Store  # noqa: E402
from app.system.paths import Paths  # noqa: E402
from support.mailsink import MailSink, TestCA  # noqa: E402


# `make test-future` (libfaketime) needs select-based sleeps here too: see support/faketime/sitecustomize.py.
import support.faketime.sitecustomize  # noqa: E402,F401


def pytest_terminal_summary(terminalreporter) -> None:
    """The last line when a prerequisite is missing: what, and the one command that installs it."""
    from support.prereq import summary

    line = summary()
    if line:
        terminalreporter.write_line(line, yellow=True, bold=True)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh HOME; XDG variables cleared so every path derives from it."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("HOME", str(home))
    for variable in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "SSH_CONNECTION", "SSH_USER_AUTH",
                     "SSH_TTY"):
        monkeypatch.delenv(variable, raising=False)
    return home


@pytest.fixture
def paths(home: Path) -> Paths:
    return Paths.from_environ({"HOME": str(home)})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A real store in tmp_path/store.db, closed after the test (a module may define its own elsewhere)."""
    opened = Store.open(tmp_path / "store.db")
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def ca() -> TestCA:
    return TestCA()


@pytest.fixture(scope="session")
def ca_file(ca: TestCA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ca.write_ca_pem(tmp_path_factory.mktemp("ca") / "ca.pem")


@pytest.fixture
def sink() -> Iterator[MailSink]:
    """A plain loopback SMTP server (no TLS, no AUTH)."""
    with MailSink("plain") as server:
        yield server


@pytest.fixture
def tls_sink(ca: TestCA) -> Iterator[MailSink]:
    """A STARTTLS server with a certificate from the test CA, requiring AUTH alice / s3cret."""
    with MailSink("starttls", cert=ca.leaf(), auth={"alice": "s3cret"}) as server:
        yield server


@pytest.fixture
def configured(paths: Paths, sink: MailSink) -> Paths:
    """HOME with a config delivering to the plain sink."""
    write_config(paths, smtp=smtp_settings(sink))
    return paths


@pytest.fixture(scope="session")
def pyz() -> Path:
    """The pyz `make` built (the test target depends on it); built here when missing."""
    if not PYZ.exists():
        subprocess.run([sys.executable, str(ROOT / "build" / "build.py")], check=True, cwd=str(ROOT))
    return PYZ


@pytest.fixture(scope="session")
def shiv_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One extraction root for the session, so each interpreter unpacks the pyz once."""
    return tmp_path_factory.mktemp("shiv")

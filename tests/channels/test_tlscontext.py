"""The system's CAs from OpenSSL's hashed directory rather than its bundle (app.channels.tlscontext): chosen only
where the directory names as many certificates as the bundle holds, verified by a real TLS server through a
real hashed directory, and a certificate only the full store verifies is still delivered, once."""

import os
import ssl
from pathlib import Path
from typing import List, Optional

import pytest

from app.channels.base import HttpRequest
from app.channels.http import TransportError, perform
from app.channels.smtp import SmtpTransport
from app.channels.tlscontext import client_context, hashed_name, system_ca_directory
from app.settings.config import load_config
from app.settings.credentials import SERVICE
from app.settings.secretstore import SecretsFile
from app.system.paths import Paths
from helpers import require, smtp_settings, write_config
from support.castore import hashed_copy_of_the_system_store, system_hashed_directory
from support.httpsworld import HttpsWorld, without_proxies
from support.mailsink import MailSink, TestCA

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def fake_paths(cafile: object, capath: object) -> ssl.DefaultVerifyPaths:
    return ssl.DefaultVerifyPaths(cafile, capath, "SSL_CERT_FILE", str(cafile), "SSL_CERT_DIR", str(capath))


def directory_of(directory: Path, names: List[str]) -> Path:
    directory.mkdir(parents=True)
    for name in names:
        (directory / name).write_text(PEM)
    return directory


def hashed_copy(directory: Path, ca_pem: Optional[Path] = None) -> Path:
    require(system_hashed_directory() is not None, "no hashed system CA directory (Debian's ca-certificates)")
    return hashed_copy_of_the_system_store(directory, ca_pem)


def test_a_hashed_name_is_eight_lowercase_hex_digits_a_dot_and_a_number() -> None:
    assert hashed_name("9d66eef0.0") and hashed_name("9d66eef0.12")
    for name in ("9d66eef0.r0", "9D66EEF0.0", "9d66eef.0", "9d66eef0", "9d66eef0.", "ca-certificates.crt",
                 "9d66eef0.\u0661", "ISRG_Root_X1.pem"):
        assert not hashed_name(name), name


def test_the_directory_is_chosen_only_when_it_names_as_many_certificates_as_the_bundle_holds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    directory = directory_of(tmp_path / "certs", ["0000000{}.0".format(number) for number in range(3)] + ["a.pem",
                                                                                                    "b.r0"])
    bundle = tmp_path / "bundle.crt"
    bundle.write_text(PEM * 3)
    monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: fake_paths(str(bundle), str(directory)))
    assert system_ca_directory() == str(directory)
    bundle.write_text(PEM * 4)  # a certificate the directory may lack
    assert system_ca_directory() is None
    monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: fake_paths(None, str(directory)))
    assert system_ca_directory() == str(directory)  # no bundle: the directory is the whole store


def test_no_directory_an_empty_one_or_a_bundle_named_in_ssl_cert_file_keeps_the_defaults(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    empty = directory_of(tmp_path / "empty", ["a.pem"])
    monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: fake_paths(None, None))
    assert system_ca_directory() is None
    monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: fake_paths(None, str(empty)))
    assert system_ca_directory() is None
    full = directory_of(tmp_path / "full", ["00000000.0"])
    monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: fake_paths(None, str(full)))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "mine.pem"))
    assert system_ca_directory() is None
    context, narrowed = client_context()
    assert not narrowed and context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_a_ca_file_is_trusted_alone_and_never_retried(ca_file: Path) -> None:
    context, narrowed = client_context(str(ca_file))
    assert not narrowed and len(context.get_ca_certs()) == 1 and context.check_hostname


def test_on_debian_the_system_directory_is_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    require(os.path.isfile("/etc/ssl/certs/ca-certificates.crt"), "not Debian's ca-certificates")
    assert os.path.realpath(system_ca_directory() or "") == "/etc/ssl/certs"  # or /usr/lib/ssl/certs, its link
    context, narrowed = client_context()
    assert narrowed and context.get_ca_certs() == []  # nothing loaded yet: the handshake looks certificates up


def test_starttls_without_ca_file_verifies_through_the_hashed_directory(
        paths: Paths, ca: TestCA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    store = hashed_copy(tmp_path / "store", ca.write_ca_pem(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(store))
    assert system_ca_directory() == str(store)
    with MailSink("starttls", cert=ca.leaf(), auth={"alice": "s3cret"}) as server:
        write_config(paths, smtp=smtp_settings(server, host="localhost", security="starttls", user="alice",
                                               password_store="file"))
        SecretsFile(paths.secrets_file).set_password(SERVICE, "alice", "s3cret")
        transport = SmtpTransport(load_config(paths.config_file), lambda: "s3cret", "client.example")
        try:
            assert transport.send(b"Subject: t\r\n\r\nbody\r\n", ["owner@example.com"]).accepted
        finally:
            transport.close()
        (received,) = server.wait_for(1)
    assert received.tls and received.auth_user == "alice"


def test_a_ca_only_the_full_store_holds_still_verifies_smtp_and_https_once_each(
        paths: Paths, ca: TestCA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    without_proxies(monkeypatch)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    lacking = hashed_copy(tmp_path / "lacking")
    with HttpsWorld(ca=ca.ca) as world:
        holding = hashed_copy(tmp_path / "holding", Path(world.ca_file))
        # The directory ssh_alert picks lacks the test CA; OpenSSL's defaults (SSL_CERT_DIR) hold it.
        monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: fake_paths(None, str(lacking)))
        monkeypatch.setenv("SSL_CERT_DIR", str(holding))
        assert client_context()[1]
        reply = perform(HttpRequest("POST", world.url + "/hook", (), b"{}"), timeout=2, deadline=10)
        assert reply.status == 200 and len(world.requests) == 1
        with MailSink("starttls", cert=ca.leaf(), auth={"alice": "s3cret"}) as server:
            write_config(paths, smtp=smtp_settings(server, host="localhost", security="starttls", user="alice",
                                                   password_store="file"))
            transport = SmtpTransport(load_config(paths.config_file), lambda: "s3cret", "client.example")
            try:
                assert transport.send(b"Subject: t\r\n\r\nbody\r\n", ["owner@example.com"]).accepted
            finally:
                transport.close()
            assert len(server.wait_for(1)) == 1
        monkeypatch.setenv("SSL_CERT_DIR", str(lacking))  # and where nothing holds it: one clear error
        with pytest.raises(TransportError, match="certificate not trusted"):
            perform(HttpRequest("POST", world.url + "/hook", (), b"{}"), timeout=2, deadline=10)

"""MAIL FROM and RCPT TO written without email.utils (app.channels.smtpsession): the same commands as smtplib's,
to a real loopback server, with nothing of the email package's address parsing or the idna codec loaded (nor
with STARTTLS, nor subprocess for a password file)."""

import re
import smtplib
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from app.channels.smtp import quoted_data
from app.channels.smtpsession import StagedSMTP, mail_from, plain_address, rcpt_to
from app.settings.credentials import SERVICE
from app.settings.secretstore import SecretsFile
from app.system.paths import Paths
from helpers import run_fresh, smtp_settings, write_config
from support.mailsink import MailSink, TestCA

ADDRESS_CHARACTERS = st.sampled_from(list("ab.-+_'!#=?{}|~@ \"<>()[],;:\\\t\u00e9\u00a0\u3000") + ["xn--"])
ATOM = "[^\\x00-\\x20\\x7f()<>\\[\\]:;@\\\\,.\"]+"  # RFC 5322 atext, and any non-ASCII (RFC 6531)
DOT_ATOM_AT_HOST = "{atom}(?:\\.{atom})*@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*".format(atom=ATOM)


@settings(max_examples=500, deadline=None)
@given(st.lists(ADDRESS_CHARACTERS, max_size=24).map("".join))
def test_a_plain_address_is_written_exactly_as_smtplibs_quoteaddr_writes_it(address: str) -> None:
    if plain_address(address):
        assert "<{}>".format(address) == smtplib.quoteaddr(address)


@settings(max_examples=1000, deadline=None)
@given(st.lists(ADDRESS_CHARACTERS | st.characters(), max_size=24).map("".join))
def test_a_plain_address_is_a_dot_atom_at_a_host_name(address: str) -> None:
    assert plain_address(address) == (re.fullmatch(DOT_ATOM_AT_HOST, address) is not None)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([b".", b"\r\n", b"\n", b"\r", b"a", b".."]), max_size=16).map(b"".join))
def test_the_data_payload_doubles_leading_dots_as_smtplib_does(message: bytes) -> None:
    expected = re.sub(br"(?m)^\.", b"..", message)
    expected += b"" if expected.endswith(b"\r\n") else b"\r\n"
    assert quoted_data(message) == expected + b".\r\n"


def test_addresses_smtplib_would_parse_are_left_to_it() -> None:
    assert plain_address("owner@example.com") and plain_address("j\u00fcrgen@xn--bcher-kva.example")
    for address in ('"john doe"@example.com', "Bob<bob@example.com>", "<a@example.com>", "a@[192.0.2.1]",
                    "a@example.com (comment)", ".a@example.com", "a..b@example.com"):
        assert not plain_address(address)


def test_mail_and_rcpt_reach_a_real_server_the_same_either_way() -> None:
    with MailSink("plain") as server:
        for recipient in ("owner@example.com", "Owner <owner@example.com>"):
            session = StagedSMTP(server.host, server.port, local_hostname="client.example")
            try:
                session.ehlo()
                assert mail_from(session, "ssh-alert@example.com")[0] == 250
                assert rcpt_to(session, recipient)[0] == 250
                assert session.data(b"Subject: x\r\n\r\nbody\r\n")[0] == 250
            finally:
                session.quit()
        first, second = server.wait_for(2)
    assert first.envelope_from == second.envelope_from == "ssh-alert@example.com"
    assert first.envelope_to == second.envelope_to == ["owner@example.com"]


def test_a_plain_smtp_send_loads_none_of_the_email_packages_parsing() -> None:
    code = ("import sys\n"
            "from app.channels.smtpsession import StagedSMTP, mail_from, rcpt_to\n"
            "session = StagedSMTP({host!r}, {port}, local_hostname='client.example')\n"
            "session.ehlo(); mail_from(session, 'a@example.com'); rcpt_to(session, 'b@example.com'); session.quit()\n"
            "print(sorted(name for name in sys.modules if name.startswith('email.')))\n"
            "print('copy' in sys.modules, 'weakref' in sys.modules)\n")
    with MailSink("plain") as server:
        output = run_fresh(code.format(host=server.host, port=server.port))
    assert output.split("\n")[0] in ("['email.base64mime']", "['email.base64mime', 'email.errors']")
    assert output.split("\n")[1] == "False False"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list("ab-.:0129") + ["x" * 63, "y" * 64, "\u00e9"]), max_size=12).map("".join))
def test_an_ascii_host_is_given_to_getaddrinfo_as_the_bytes_the_idna_codec_makes(host: str) -> None:
    from app.channels.smtpsession import resolvable

    if isinstance(resolvable(host), bytes):
        assert resolvable(host) == host.encode("idna")
    else:
        assert resolvable(host) == host


def test_a_plain_smtp_connection_loads_no_idna_codec() -> None:
    code = ("import sys\n"
            "from app.channels.smtpsession import StagedSMTP\n"
            "session = StagedSMTP({host!r}, {port}, local_hostname='client.example')\n"
            "session.quit()\n"
            "print('encodings.idna' in sys.modules)\n")
    with MailSink("plain") as server:
        output = run_fresh(code.format(host=server.host, port=server.port))
    assert output.split() == ["False"]


def test_a_starttls_login_with_a_password_file_loads_no_idna_codec_subprocess_signal_enums_or_url_parser(
        paths: Paths, ca: TestCA, ca_file: Path) -> None:
    code = ("import sys\n"
            "from app.channels.smtp import SmtpTransport\n"
            "from app.settings.config import load_config\n"
            "from app.settings.credentials import resolve_password\n"
            "from app.system.paths import Paths\n"
            "paths = Paths.from_environ({{'HOME': {home!r}}})\n"
            "config = load_config(paths.config_file)\n"
            "transport = SmtpTransport(config, lambda: resolve_password(config, paths), 'client.example')\n"
            "transport.send(b'Subject: tls\\r\\n\\r\\nbody\\r\\n', ['owner@example.com'])\n"
            "transport.close()\n"
            "print('encodings.idna' in sys.modules, 'subprocess' in sys.modules, 'signal' in sys.modules)\n"
            "print('urllib.parse' in sys.modules)\n")
    with MailSink("starttls", cert=ca.leaf(), auth={"alice": "s3cret"}) as server:
        write_config(paths, smtp=smtp_settings(server, host="localhost", security="starttls", user="alice",
                                               password_store="file", ca_file=str(ca_file)))
        SecretsFile(paths.secrets_file).set_password(SERVICE, "alice", "s3cret")
        output = run_fresh(code.format(home=str(paths.home)))
        (received,) = server.wait_for(1)
    assert received.tls and received.auth_user == "alice"
    assert output.split() == ["False", "False", "False", "False"]

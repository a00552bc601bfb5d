"""Alert rendering: pure functions from a LoginRecord (and what we know around it) to an email message."""

from __future__ import annotations

import time

from app.rules.keys import fingerprint
from app.channels.mailname import wire_address
from app.logins.loginline import LoginRecord
from app.system.record import Record
from app.system.text import printable
from app.check.wire import WireMessage, plain_wire_bytes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

    from email.message import EmailMessage

    Message = Union[EmailMessage, WireMessage]  # what every build_* returns: as_bytes(), message["Subject"]

HOOK_NAMES = {"bash-profile": "~/.bash_profile", "bashrc": "~/.bashrc", "ssh-rc": "~/.ssh/rc", "cron": "cron"}
ENABLE_AUTH_INFO = ("(method not exposed: ask root to set 'ExposeAuthInfo yes' in /etc/ssh/sshd_config "
                    "to see the method and key)")


class Envelope(Record):
    """Who the message is from and to, and how the host is named."""

    sender: str
    recipients: Sequence[str]
    host: str  # FQDN or host_label: the name alerts show (any Unicode)
    mail_domain: str = "localhost.invalid"  # the domain of Message-IDs: the EHLO name (app.channels.mailname)


def escape(text: str) -> str:
    """Text made printable, then html.escape'd (imported only for the HTML part: html.entities costs a millisecond)."""
    import html

    return html.escape(printable(text))


def one_line(value: str, limit: int = 200) -> str:
    """Whitespace and line breaks collapsed to one space, the rest made printable, cut to limit: safe in a header."""
    return printable(" ".join(value.split()), limit)


def _new_message(envelope: Envelope, subject: str, body: str, date: str, message_id: str) -> "Message":
    """The message with these headers and a text/plain body. When every header fits one line in printable
    ASCII and the body is ASCII, it is written directly (app.check.wire): the same bytes as the email
    package's, without loading its header parser and policies (about 5 ms of every login)."""
    addresses = [wire_address(one_line(address)) for address in [envelope.sender, *envelope.recipients]]
    display_name = one_line("ssh_alert on " + envelope.host, 120)
    headers = [("Subject", one_line(subject, 250)), ("Date", date), ("Message-ID", message_id)]
    data = plain_wire_bytes(display_name, addresses, headers, body)
    if data is not None:
        return WireMessage(data, dict(headers))
    return _email_message(envelope, subject, body, date, message_id)


def _email_message(envelope: Envelope, subject: str, body: str, date: str, message_id: str) -> "EmailMessage":
    """The message built by the email package: non-ASCII text, folded headers, a part to add."""
    from email.headerregistry import Address
    from email.message import EmailMessage
    from email.policy import SMTP, SMTPUTF8

    addresses = [wire_address(one_line(address)) for address in [envelope.sender, *envelope.recipients]]
    # A non-ASCII local part goes as UTF-8 (RFC 6531): delivery then requires a server offering SMTPUTF8.
    message = EmailMessage(policy=SMTPUTF8 if not all(address.isascii() for address in addresses) else SMTP)
    message["From"] = Address(display_name=one_line("ssh_alert on " + envelope.host, 120), addr_spec=addresses[0])
    message["To"] = ", ".join(addresses[1:])
    message["Subject"] = one_line(subject, 250)
    message["Date"] = date
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message["X-Mailer"] = "ssh_alert"
    # 7bit keeps the source readable when the body is ASCII (lines are kept far below SMTP's 998 limit).
    message.set_content(body, cte="7bit" if body.isascii() else "quoted-printable")
    return message


def wrap_raw(raw: str, width: int = 200) -> str:
    """Show a raw log line indented, cut into width-character pieces."""
    raw = printable(raw)
    return "\n".join("  " + raw[start:start + width] for start in range(0, max(len(raw), 1), width))


def session_description(record: LoginRecord) -> str:
    """Describe the session kind from the tty and kind extras."""
    kind, tty = record.extra("kind"), record.extra("tty")
    if tty and tty != "none":
        return "interactive (tty {})".format(tty)
    # ~/.ssh/rc (which sends before the session starts) cannot tell a command from scp -O or rsync.
    return {"command": "command (no tty)", "transfer": "file transfer (no tty)"}.get(
        kind, "command or file transfer (no tty)")


class AlertContext(Record):
    """What check knows around one login beyond its log line."""

    key_comment: Optional[str] = None  # None: key not in authorized_keys; "": found without comment
    new_ip: bool = False
    trusted: bool = False
    first_seen: Optional[float] = None  # earlier logins from this IP (None: first time)
    last_seen: Optional[float] = None
    earlier: int = 0  # earlier logins from this IP (a field named count would hide tuple.count)
    rdns: str = ""
    tags: Tuple[str, ...] = ()  # from [rules]
    urgent: Tuple[str, ...] = ()  # why the login is urgent ([rules], a key not in authorized_keys, work_hours)
    place: Any = None  # app.logins.geoip.Place when geoip_db is set
    new_country: bool = False  # first login of this account from the place's country / network (ASN)
    new_network: bool = False


def _tags(context: AlertContext) -> str:
    marks = [("[URGENT] ", bool(context.urgent)), ("[NEW COUNTRY] ", context.new_country),
             ("[NEW NETWORK] ", context.new_network), ("[NEW IP] ", context.new_ip), ("[trusted] ", context.trusted)]
    return "".join(tag for tag, on in marks if on) + "".join("[{}] ".format(one_line(tag, 32)) for tag in context.tags)


def alert_subject(record: LoginRecord, host: str, context: AlertContext = AlertContext()) -> str:
    if not record.parsed:
        return "SSH login on {} (unrecognised log line)".format(host)
    return "{}SSH login: {}@{} from {}".format(_tags(context), record.user, host, record.ip)


def _local_and_utc(record: LoginRecord) -> str:
    """The login time as recorded (local, with offset), plus UTC."""
    epoch = record.epoch
    if epoch is None:
        return record.when
    return "{} ({} UTC)".format(record.when, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch)))


def _day(epoch: Optional[float]) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch)) if epoch else "?"


def alert_rows(record: LoginRecord, host: str, context: AlertContext) -> List[Tuple[str, str]]:
    """The facts of one login as (label, value) rows, for the text and the HTML body."""
    source = record.ip + (" port " + record.extra("cport") if record.extra("cport") else "")
    rows = [("Urgent", "; ".join(context.urgent))] if context.urgent else []
    rows += [("Host", host), ("From", source)]
    if context.rdns:
        rows.append(("Reverse DNS", context.rdns))
    rows += geo_rows(record.user, context)
    if context.new_ip:
        rows.append(("Source", "first login from this address for {}".format(record.user)))
    else:
        rows.append(("Source", "known: first seen {}, last seen {}, {} earlier login(s)".format(
            _day(context.first_seen), _day(context.last_seen), context.earlier)))
    if context.trusted:
        rows.append(("Trusted", "yes (in [alert] trusted)"))
    rows += [("User", record.user),
             ("Auth", ", ".join(record.methods) if record.methods else "unknown " + ENABLE_AUTH_INFO)]
    key_blob, key_type = record.extra("key"), record.extra("keytype")
    if key_blob:
        key_line = "{} {}".format(key_type or "key", fingerprint(key_blob) or "(unreadable key data)")
        if context.key_comment:
            key_line += ' ("{}" in authorized_keys)'.format(one_line(context.key_comment, 120))
        elif context.key_comment is None:
            key_line += " (not found in ~/.ssh/authorized_keys)"
        rows.append(("Key", key_line))
    rows.append(("Session", session_description(record)))
    if record.extra("cmd"):  # only with record_command = yes: the hook records it then
        rows.append(("Command", record.extra("cmd") + " (as the client asked; shell-escaped)"))
    rows.append(("Time", _local_and_utc(record)))
    if record.extra("saddr"):
        rows.append(("Server", record.extra("saddr") + (" port " + record.extra("sport")
                                                          if record.extra("sport") else "")))
    if record.extra("hook"):
        rows.append(("Seen by", ", ".join(HOOK_NAMES.get(hook, hook) for hook in record.extra("hook").split(","))))
    return [(label, one_line(value, 300)) for label, value in rows]


def geo_rows(user: str, context: AlertContext) -> List[Tuple[str, str]]:
    """The location rows (geoip_db): where, what is new for the account, and the databases' attribution."""
    place = context.place
    if place is None or not place.where():
        return []
    rows = [("Location", place.where())]
    new = [what for what, on in (("country", context.new_country), ("network", context.new_network)) if on]
    if new:
        rows.append(("New", "first login of {} from this {} (VPNs and roaming make this a hint)".format(
            user, " and ".join(new))))
    rows += [("Geo data", source) for source in place.sources]
    return rows


ADVICE = ["If this was not you or someone you trust: check `last` and `who`, remove unknown keys from",
          "~/.ssh/authorized_keys, change the account's password, and tell your hosting provider."]
UNPARSED = "A line in the login log could not be parsed; it may be a login, a hand edit or tampering."


def alert_body(record: LoginRecord, host: str, context: AlertContext = AlertContext()) -> str:
    """The plain-text body: one fact per line, short enough to read on a phone."""
    if not record.parsed:
        return "{}\n\n  Host:  {}\n\nRaw line:\n{}\n".format(UNPARSED, host, wrap_raw(record.raw))
    rows = alert_rows(record, host, context)
    width = max(len(label) for label, _ in rows) + 2
    lines = ["Someone logged in over SSH.", ""]
    lines += ["  {:<{}}{}".format(label + ":", width, value) for label, value in rows]
    lines += [""] + ADVICE + ["", "Raw log line:", wrap_raw(record.raw), ""]
    return "\n".join(lines)


def _html_table(rows: Sequence[Tuple[str, str]]) -> str:
    cells = "".join("<tr><th align=\"left\">{}</th><td>{}</td></tr>".format(escape(label), escape(value))
                    for label, value in rows)
    return "<table cellpadding=\"3\">{}</table>".format(cells)


def alert_html(record: LoginRecord, host: str, context: AlertContext) -> str:
    """The optional HTML alternative: the same rows as a table, everything escaped."""
    if not record.parsed:
        return "<p>{}</p><pre>{}</pre>".format(escape(UNPARSED), escape(record.raw))
    return "<p>Someone logged in over SSH.</p>{}<p>{}</p>".format(
        _html_table(alert_rows(record, host, context)), escape(" ".join(ADVICE)))


def build_alert(record: LoginRecord, envelope: Envelope, date: str, message_id: str,
                context: AlertContext = AlertContext(), with_html: bool = False) -> "Message":
    """Return the alert email for one login; context is what check knows beyond the line."""
    subject, body = alert_subject(record, envelope.host, context), alert_body(record, envelope.host, context)
    if not with_html:
        return _new_message(envelope, subject, body, date, message_id)
    message = _email_message(envelope, subject, body, date, message_id)
    message.add_alternative(alert_html(record, envelope.host, context), subtype="html")
    return message


def digest_line(record: LoginRecord, context: AlertContext) -> str:
    """One login on one line of a digest."""
    if not record.parsed:
        return "unrecognised line: " + one_line(record.raw, 160)
    key = ""
    if record.extra("key"):
        key = " " + (context.key_comment or fingerprint(record.extra("key")) or "key")
    place = context.place
    where = " {}{}".format(place.country, " AS{}".format(place.asn) if place.asn else "") \
        if place is not None and (place.country or place.asn) else ""
    return "{} {}@{}{}{} {}{} [{}]{}".format(
        record.when[:16], record.user, record.ip, " ({})".format(context.rdns) if context.rdns else "", where,
        ",".join(record.methods) or "unknown", key, session_description(record).split(" (")[0],
        (" " + _tags(context).strip()) if _tags(context) else "")


def build_digest(items: Sequence[Tuple[LoginRecord, AlertContext]], envelope: Envelope, date: str,
                 message_id: str, with_html: bool = False) -> "Message":
    """One email listing several logins, newest first; the subject counts them and their source IPs."""
    newest_first = list(reversed(items))
    addresses = dict.fromkeys(record.ip if record.parsed else "?" for record, _ in items)  # ordered, once each
    new = sum(1 for _, context in items if context.new_ip)
    subject = "SSH logins: {} on {} from {} IP{}{}".format(
        len(items), envelope.host, len(addresses), "" if len(addresses) == 1 else "s",
        " ({} new)".format(new) if new else "")
    lines = ["{} SSH logins since the last alert, newest first:".format(len(items)), ""]
    lines += [one_line(digest_line(record, context), 300) for record, context in newest_first]
    lines += [""] + ADVICE + ["", "`ssh_alert.pyz history` shows every recorded login.", ""]
    if not with_html:
        return _new_message(envelope, subject, "\n".join(lines), date, message_id)
    message = _email_message(envelope, subject, "\n".join(lines), date, message_id)
    rows = "".join("<li>{}</li>".format(escape(digest_line(record, context))) for record, context in newest_first)
    message.add_alternative("<p>{}</p><ol>{}</ol><p>{}</p>".format(escape(lines[0]), rows, escape(" ".join(ADVICE))),
                            subtype="html")
    return message


def build_session_alert(started: float, title: str, envelope: Envelope, date: str, message_id: str) -> "Message":
    """Return the alert for an SSH connection of this account that no login hook recorded (e.g. ssh -N)."""
    subject, body = session_alert_text(started, title, envelope.host)
    return _new_message(envelope, subject, body, date, message_id)


def session_alert_text(started: float, title: str, host: str) -> Tuple[str, str]:
    """The subject and plain text of a session alert (the email's, and the push channels' event's)."""
    when = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(started))
    tunnel = "@" not in title
    what = "with no session (tunnel-only, e.g. ssh -N port forwarding)" if tunnel else "that no login hook recorded"
    body = "\n".join([
        "An SSH connection to this account is open {}.".format(what), "",
        "  Host:       {}".format(host),
        "  Since:      {}".format(when),
        "  Process:    {}".format(one_line(title, 120)), "",
        "Without root, that is all an account can see of such a connection: sshd hides its client",
        "address from the user's processes, and it runs no hook. Root can show the address with",
        "`ss -tnp | grep sshd`; the system-wide PAM mode records every connection.",
        "If you do not expect it, end it (kill the process) and remove unknown keys from",
        "~/.ssh/authorized_keys.", ""])
    subject = "SSH connection {} on {} since {}".format("without a session" if tunnel else "seen by no hook",
                                                         host, when[11:16])
    return subject, body


def build_notice(envelope: Envelope, subject: str, explanation: str, recent: Iterable[LoginRecord], date: str,
                 message_id: str) -> "Message":
    """Return a notice about ssh_alert itself (e.g. a re-seeded state), listing recent logins for review."""
    lines = [explanation, ""]
    recent = list(recent)
    if recent:
        lines += ["The most recent recorded logins, for review:", ""]
        lines += [(wrap_raw(record.raw) if not record.parsed else "  " + "{}  {}  {}  {}".format(
            record.when, record.user, record.ip, ",".join(record.methods) or "unknown")) for record in recent]
    return _new_message(envelope, "ssh_alert on {}: {}".format(envelope.host, subject), "\n".join(lines) + "\n",
                        date, message_id)


def build_test_message(envelope: Envelope, transport: str, date: str, message_id: str) -> "Message":
    """Return the message `ssh_alert.pyz test` sends."""
    body = ("This is a test from ssh_alert on {}.\n\nDelivery: {}\n\nIf you can read this, login alerts "
            "will reach you the same way.\n").format(envelope.host, transport)
    return _new_message(envelope, "ssh_alert test from {}".format(envelope.host), body, date, message_id)


def build_refused_notice(envelope: Envelope, address: str, reply: str, date: str, message_id: str) -> "Message":
    """Tell the recipients who do get mail that another one is refused for good and gets no alerts."""
    body = ("The mail server refused alerts for {} permanently:\n\n  {}\n\nThat address gets no alerts "
            "until this is fixed; every other recipient does. Fix [alert] to, then run: ssh_alert.pyz test\n"
            ).format(one_line(address), one_line(reply))
    return _new_message(envelope, "ssh_alert on {}: {} refused".format(envelope.host, one_line(address, 80)),
                        body, date, message_id)

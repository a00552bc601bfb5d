"""Alert policy: new or known source, trusted networks, digests and the hourly limit; nothing is dropped."""

import email
import email.policy
import ipaddress
import logging
import tempfile
from typing import Set

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.settings.config import AlertPolicy
from app.channels.delivery import DeliveryError, SendResult
from app.check.context import RunParts
from app.check.dispatch import Dispatcher
from app.check.fanout import Channels
from app.check.handoff import NO_HANDOFF
from app.check.sender import Sender
from app.logins.loginline import parse_line
from app.system.paths import Paths
from app.check.policy import count_login, decide_seen, emails_left, next_free, plan_sends, source_key
from app.check.render import Envelope
from app.store import outbox
from app.logins.statediff import plan
from app.store.store import opened
from app.rules.trust import is_trusted, parse_networks
from helpers import append_log, login_line

# --- trusted networks (pure) ---------------------------------------------------------------------------

ipv4_networks = st.builds(lambda address, prefix: ipaddress.IPv4Network((address, prefix), strict=False),
                          st.integers(0, 2 ** 32 - 1), st.integers(0, 32))
ipv6_networks = st.builds(lambda address, prefix: ipaddress.IPv6Network((address, prefix), strict=False),
                          st.integers(0, 2 ** 128 - 1), st.integers(0, 128))


@given(ipv4_networks, st.integers(0, 2 ** 32 - 1))
def test_trusted_ipv4_matching_agrees_with_ipaddress_also_for_ipv4_mapped_addresses(network, number):
    address = ipaddress.IPv4Address(number)
    networks, bad = parse_networks(str(network))
    assert bad == []
    assert is_trusted(str(address), networks) == (address in network)
    assert is_trusted("::ffff:" + str(address), networks) == (address in network)


@given(ipv6_networks, st.integers(0, 2 ** 128 - 1))
def test_trusted_ipv6_matching_agrees_with_ipaddress(network, number):
    address = ipaddress.IPv6Address(number)
    networks, _ = parse_networks(str(network))
    if address.ipv4_mapped is None and network.network_address.ipv4_mapped is None:
        assert is_trusted(str(address), networks) == (address in network)


def test_trusted_list_accepts_addresses_networks_and_ipv6_and_names_bad_entries():
    networks, bad = parse_networks("203.0.113.0/24, 2001:db8::/48, 10.0.0.5, not-an-ip, 300.1.1.1")
    assert [str(network) for network in networks] == ["203.0.113.0/24", "2001:db8::/48", "10.0.0.5/32"]
    assert bad == ["not-an-ip", "300.1.1.1"]
    assert is_trusted("2001:db8:0:1::7", networks) and not is_trusted("2001:db9::1", networks)
    assert not is_trusted("garbage", networks)


# --- per-login decisions (pure) --------------------------------------------------------------------------

def record(ip: str = "203.0.113.7", user: str = "alice", when: str = "2026-11-25 11:55:03 +0000"):
    return parse_line(login_line(ip=ip, user=user, when=when))


def known_after(*logins):  # type: ignore[no-untyped-def]
    """What the store knows after logins, by (user, address) as the dispatcher keys it (policy.source_key)."""
    known = {}
    for login in logins:
        key = source_key(login)
        known[key] = count_login(known.get(key), login.epoch or 0.0)
    return known


def decide(login, known, policy):  # type: ignore[no-untyped-def]
    return decide_seen(login, known.get(source_key(login)), policy)


def test_first_login_from_an_ip_is_new_and_the_next_is_known_with_first_and_last_seen():
    first = record(when="2026-11-20 08:00:00 +0000")
    assert decide(first, {}, AlertPolicy()).new_ip
    known = known_after(first)
    later = decide(record(when="2026-11-25 11:55:03 +0000"), known, AlertPolicy())
    assert (later.new_ip, later.earlier, later.first_seen) == (False, 1, first.epoch)
    assert decide(record(user="bob"), known, AlertPolicy()).new_ip  # known per user


def test_ipv4_mapped_and_plain_forms_of_one_address_are_one_source():
    known = known_after(record(ip="::ffff:203.0.113.7"))
    assert not decide(record(ip="203.0.113.7"), known, AlertPolicy()).new_ip


def test_notify_new_emails_only_new_sources():
    known = known_after(record())
    new_only = AlertPolicy(notify="new")
    assert not decide(record(), known, new_only).email
    assert decide(record(ip="198.51.100.1"), known, new_only).email


def test_trusted_skip_records_without_email_and_tag_emails_marked():
    networks, _ = parse_networks("203.0.113.0/24")
    assert not decide(record(), {}, AlertPolicy(trusted=networks, trusted_action="skip")).email
    tagged = decide(record(), {}, AlertPolicy(trusted=networks))
    assert tagged.email and tagged.trusted


def test_an_unparsed_line_is_always_emailed_whatever_the_policy():
    garbage = parse_line(b"\xff garbage")
    assert decide(garbage, {}, AlertPolicy(notify="new", trusted=parse_networks("0.0.0.0/0")[0],
                                           trusted_action="skip")).email


# --- sending plan and the hourly limit (pure) ------------------------------------------------------------

def test_plan_sends_individually_up_to_digest_after_then_one_digest_and_holds_at_the_limit():
    assert plan_sends(3, 20, 3) == (False, False)
    assert plan_sends(4, 20, 3) == (True, False)
    assert plan_sends(2, 1, 3) == (True, False)  # fewer emails left than alerts: one digest
    assert plan_sends(5, 0, 3) == (False, True)
    assert plan_sends(0, 0, 3) == (False, False)


def test_the_hourly_window_frees_the_oldest_send_first():
    sent = [1000.0 + second for second in range(20)]
    assert emails_left(sent, 1100.0, 20) == 0
    assert next_free(sent, 1100.0, 20) == 1000.0 + 3600
    assert emails_left(sent, 1000.0 + 3600.5, 20) == 1


# --- the accounting property, through the real dispatcher ------------------------------------------------

class RecordingTransport:
    """Stands in for the mail server in the property test: records messages, fails the chosen sends."""

    def __init__(self, failing: Set[int]) -> None:
        self.failing, self.attempts, self.messages = failing, 0, []  # type: Set[int], int, List[str]

    def send(self, message, recipients) -> None:  # type: ignore[no-untyped-def]
        self.attempts += 1
        if self.attempts in self.failing:
            raise DeliveryError("the test server is down")
        parsed = email.message_from_bytes(message, policy=email.policy.default)
        self.messages.append(parsed.get_body(("plain",)).get_content())
        return SendResult(accepted=tuple(recipients))

    def close(self) -> None:
        pass


def run_once(paths: Paths, policy: AlertPolicy, transport: RecordingTransport, hour_passed: bool) -> None:
    """One check run through the real store, outbox and dispatcher, with transport standing in for the server."""
    from app.settings.config import parse_config

    config = parse_config("[alert]\nto = o@example.com\nfrom = s@example.com\nmethod = sendmail\n"
                          "sendmail_path = /bin/true\n", paths.config_file)._replace(policy=policy)
    log = logging.getLogger("ssh_alert.test.policy")
    with opened(paths.store_file) as store:
        if hour_passed:
            with store.transaction():
                store.connection.execute("DELETE FROM sends")
        segments, _ = plan(store.position(), paths.login_log)
        parts = RunParts(paths, store, config, Envelope("s@example.com", ["o@example.com"], "web1"), log)
        sender = Sender(parts, transport, Channels(parts, NO_HANDOFF))
        dispatcher = Dispatcher(parts, sender, stamp=lambda: "Wed, 25 Nov 2026 12:00:00 +0000")
        try:
            sender.send()
            for segment in segments:
                if not dispatcher.segment(segment):
                    break
        except outbox.SendFailed:
            pass


steps = st.lists(st.tuples(st.integers(0, 12), st.booleans(), st.booleans()), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps, st.integers(1, 5), st.integers(1, 6), st.sets(st.integers(1, 30), max_size=6))
def test_every_login_is_emailed_once_or_in_one_digest_once_whatever_the_failures_and_limits(
        steps, digest_after, max_per_hour, failing):
    with tempfile.TemporaryDirectory() as home:
        paths = Paths.from_environ({"HOME": home})
        with opened(paths.store_file) as store, store.transaction():
            store.set_position(None)
        policy = AlertPolicy(digest_after=digest_after, max_per_hour=max_per_hour, reverse_dns=False)
        transport = RecordingTransport(failing)
        logins = 0
        for count, hour_passed, check in steps:
            append_log(paths, *[login_line(ip="198.51.{}.{}".format(number // 250, number % 250 + 1),
                                           extras="cport={}".format(40000 + number))
                                for number in range(logins, logins + count)])
            logins += count
            if check:
                run_once(paths, policy, transport, hour_passed)
        for _ in range(logins + 5):  # drain: the server is back, hours pass
            transport.failing = set()
            run_once(paths, policy, transport, hour_passed=True)
        for number in range(logins):
            address = "198.51.{}.{}".format(number // 250, number % 250 + 1)
            holding = [body for body in transport.messages if address + " " in body or address + "\r" in body
                       or address + "\n" in body or address + " (" in body]
            assert len(holding) == 1, (address, len(holding))
        assert len(transport.messages) <= logins


# --- send times and a clock that jumps (pure) --------------------------------------------------------------

from app.rules.hourly import HOUR, recent_sends  # noqa: E402  (this section's own imports)

sends = st.lists(st.floats(-1e10, 1e10, allow_nan=False), max_size=40)
moments = st.floats(-1e10, 1e10, allow_nan=False)


def test_send_times_from_a_clock_that_ran_a_year_ahead_hold_nothing_back():
    now = 1795607703.0
    ahead = [now + 365 * 24 * HOUR + second for second in range(20)]
    assert emails_left(ahead, now, 20) == 20
    assert recent_sends(ahead, now) == ()
    assert next_free(ahead, now, 20) == now


def test_a_clock_turned_back_opens_one_more_hours_allowance_and_no_more():
    sent = [10000.0 + second for second in range(20)]
    assert emails_left(sent, 10100.0, 20) == 0
    back = 5000.0  # the clock came back: the 20 sends above are in its future now
    assert emails_left(sent, back, 20) == 20
    sent = list(recent_sends(sent, back)) + [back + second for second in range(20)]
    assert emails_left(sent, back + 30, 20) == 0  # the limit holds again at once
    assert next_free(sent, back + 30, 20) == back + HOUR
    assert emails_left(sent, back + HOUR, 20) == 1


def test_a_send_at_this_very_second_counts_against_the_limit():
    assert emails_left([1000.0], 1000.0, 1) == 0 and recent_sends([1000.0], 1000.0) == (1000.0,)


@settings(max_examples=300, deadline=None, database=None)
@given(sends, moments, st.integers(1, 50))
def test_the_limit_counts_only_sends_of_the_past_hour_and_frees_within_the_hour(sent, now, max_per_hour):
    kept = recent_sends(sent, now)
    assert all(now - HOUR < moment <= now for moment in kept)
    assert emails_left(sent, now, max_per_hour) == max(0, max_per_hour - len(kept))
    assert 0 <= emails_left(sent, now, max_per_hour) <= max_per_hour
    assert now <= next_free(sent, now, max_per_hour) <= now + HOUR
    if emails_left(sent, now, max_per_hour) > 0:
        assert next_free(sent, now, max_per_hour) == now


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(st.floats(-3 * 3600, 3 * 3600, allow_nan=False), min_size=1, max_size=30), st.integers(1, 10))
def test_sending_all_that_is_allowed_at_any_clock_readings_never_exceeds_the_limit_in_any_hour_of_the_clock(
        readings, max_per_hour):
    """Whatever the clock says run after run (jumping back and forth), the sends it records within any one
    hour of clock time never exceed the limit by more than one hour's allowance per backward jump."""
    kept, history = (), []
    for now in readings:
        allowed = emails_left(kept, now, max_per_hour)
        history += [now] * allowed
        kept = recent_sends(tuple(kept) + (now,) * allowed, now)
        assert emails_left(kept, now, max_per_hour) == 0
    backward_jumps = sum(1 for earlier, later in zip(readings, readings[1:]) if later < earlier)
    for start in history:
        in_hour = sum(1 for moment in history if start <= moment < start + HOUR)
        assert in_hour <= max_per_hour * (1 + backward_jumps)

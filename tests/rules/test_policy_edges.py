"""Alert policy at its edges: whole decisions, counting sources, the hourly window at real clock values, plan_sends."""

import time

from app.logins.loginline import parse_line
from app.check.policy import (DIGEST_EVERY, Decision, SendPlan, count_login, decide_seen, emails_left, limit_digest_at,
                              next_free, plan_sends, source_key, with_verdict)
from app.rules.hourly import HOUR, recent_sends
from app.store.rows import Seen
from app.rules.trust import parse_networks
from app.settings.config import AlertPolicy

NOW = 1_795_607_703.0  # 2026-11-25 11:55:03 UTC: a real clock reading, not a small number


def login(ip: str = "203.0.113.7", user: str = "alice"):  # type: ignore[no-untyped-def]
    return parse_line("2026-11-25 11:55:03 +0000 {} {} publickey cport=51234 epoch=1795607703".format(
        ip, user).encode())


GARBAGE = parse_line(b"\x1b[2J not a login line")
TRUSTED = parse_networks("203.0.113.0/24")[0]


# --- source keys and whole decisions --------------------------------------------------------------------------

def test_source_key_of_an_unparsed_line_is_empty_so_no_source_is_recorded_for_it():
    assert source_key(GARBAGE) == ("", "")


def test_source_key_is_the_user_and_the_canonical_address_or_the_text_when_it_is_no_address():
    assert source_key(login("::ffff:203.0.113.7", "bob")) == ("bob", "203.0.113.7")
    assert source_key(login("2001:DB8::1")) == ("alice", "2001:db8::1")
    assert source_key(login("some.host.example")) == ("alice", "some.host.example")


def test_an_unparsed_line_is_emailed_as_neither_new_nor_trusted_with_no_history():
    everything_trusted = AlertPolicy(notify="new", trusted=parse_networks("0.0.0.0/0, ::/0")[0],
                                     trusted_action="skip")
    expected = Decision(email=True, new_ip=False, trusted=False, first_seen=None, last_seen=None, earlier=0)
    assert decide_seen(GARBAGE, None, everything_trusted) == expected
    assert decide_seen(GARBAGE, Seen(NOW - 50, NOW - 5, 3), AlertPolicy()) == expected


def test_a_first_login_from_an_address_is_new_with_no_earlier_logins():
    assert decide_seen(login(), None, AlertPolicy()) == Decision(True, True, False, None, None, 0)
    assert decide_seen(login(), None, AlertPolicy(notify="new")) == Decision(True, True, False, None, None, 0)


def test_a_known_address_carries_when_it_was_first_and_last_seen_and_how_often():
    seen = Seen(NOW - 86400, NOW - 600, 4)
    assert decide_seen(login(), seen, AlertPolicy()) == Decision(True, False, False, NOW - 86400, NOW - 600, 4)
    assert decide_seen(login(), seen, AlertPolicy(notify="new")) == Decision(
        False, False, False, NOW - 86400, NOW - 600, 4)


def test_a_trusted_address_is_tagged_by_default_and_only_recorded_with_skip():
    assert decide_seen(login(), None, AlertPolicy(trusted=TRUSTED)) == Decision(True, True, True, None, None, 0)
    assert decide_seen(login(), None, AlertPolicy(trusted=TRUSTED, trusted_action="skip")) == Decision(
        False, True, True, None, None, 0)
    assert decide_seen(login("198.51.100.1"), None, AlertPolicy(trusted=TRUSTED, trusted_action="skip")) == Decision(
        True, True, False, None, None, 0)


def test_an_ipv4_mapped_login_from_a_trusted_network_is_trusted():
    decision = decide_seen(login("::ffff:203.0.113.9"), None, AlertPolicy(trusted=TRUSTED, trusted_action="skip"))
    assert (decision.email, decision.trusted) == (False, True)


# --- counting logins per source --------------------------------------------------------------------------------

def test_count_login_starts_a_source_at_one_login_and_adds_one_per_login():
    first = count_login(None, NOW)
    assert first == Seen(NOW, NOW, 1)
    assert count_login(first, NOW + 60) == Seen(NOW, NOW + 60, 2)
    assert count_login(count_login(first, NOW + 60), NOW + 120) == Seen(NOW, NOW + 120, 3)


def test_count_login_of_an_older_login_moves_first_seen_back_and_keeps_last_seen():
    assert count_login(Seen(NOW, NOW + 60, 2), NOW - 3600) == Seen(NOW - 3600, NOW + 60, 3)


def test_count_login_of_a_source_without_a_first_time_takes_this_login_as_the_first():
    assert count_login(Seen(0.0, NOW - 60, 5), NOW) == Seen(NOW, NOW, 6)


# --- the hourly window with real epochs --------------------------------------------------------------------------

def test_recent_sends_with_real_epochs_forgets_an_hour_old_send():
    sent = [NOW - 7200, NOW - HOUR, NOW - HOUR + 1, NOW - 60, NOW]
    assert recent_sends(sent, NOW) == (NOW - HOUR + 1, NOW - 60, NOW)


def test_recent_sends_keeps_the_order_it_was_given():
    assert recent_sends([NOW - 5, NOW - 60, NOW - 10], NOW) == (NOW - 5, NOW - 60, NOW - 10)


def test_recent_sends_forgets_a_send_one_second_in_the_future():
    assert recent_sends([NOW + 1, NOW + 0.5, NOW], NOW) == (NOW,)


def test_emails_left_with_real_epochs_counts_only_the_past_hour():
    sent = [NOW - HOUR - 1, NOW - HOUR, NOW - 1800, NOW - 1]
    assert emails_left(sent, NOW, 5) == 3
    assert emails_left(sent, NOW, 2) == 0
    assert emails_left(sent, NOW, 3) == 1
    assert emails_left([], NOW, 1) == 1


def test_next_free_is_now_while_the_limit_allows_one_more():
    assert next_free([NOW - 100, NOW - 50], NOW, 3) == NOW
    assert next_free([], NOW, 1) == NOW
    assert next_free([NOW - HOUR, NOW - HOUR - 5], NOW, 1) == NOW  # both outside the window


def test_next_free_with_real_epochs_is_an_hour_after_the_oldest_send_that_fills_the_limit():
    sent = [NOW - 600, NOW - 3000, NOW - 2000]  # not in order
    assert next_free(sent, NOW, 3) == NOW - 3000 + HOUR
    assert next_free(sent, NOW, 2) == NOW - 2000 + HOUR  # two must expire before a third goes: the later one
    assert next_free(sent, NOW, 1) == NOW - 600 + HOUR


def test_next_free_ignores_sends_outside_the_window():
    sent = [NOW - HOUR - 10, NOW + 300, NOW - 900]
    assert next_free(sent, NOW, 1) == NOW - 900 + HOUR


def test_next_free_after_sending_the_whole_allowance_frees_exactly_the_oldest_send_an_hour_later():
    sent = [NOW - 3599, NOW - 10]
    free = next_free(sent, NOW, 2)
    assert free == NOW + 1
    assert emails_left(sent, free - 0.5, 2) == 0 and emails_left(sent, free, 2) == 1


# --- plan_sends at its boundaries ----------------------------------------------------------------------------------

def test_plan_sends_with_nothing_to_email_neither_digests_nor_holds():
    assert plan_sends(0, 0, 3) == SendPlan(digest=False, held=False)
    assert plan_sends(0, 5, 3, holding=True) == SendPlan(digest=False, held=False)


def test_plan_sends_exactly_digest_after_alerts_go_one_by_one_and_one_more_is_a_digest():
    assert plan_sends(3, 100, 3) == SendPlan(digest=False, held=False)
    assert plan_sends(4, 100, 3) == SendPlan(digest=True, held=False)


def test_plan_sends_exactly_as_many_alerts_as_emails_left_go_one_by_one():
    assert plan_sends(2, 2, 10) == SendPlan(digest=False, held=False)
    assert plan_sends(3, 2, 10) == SendPlan(digest=True, held=False)
    assert plan_sends(1, 1, 10) == SendPlan(digest=False, held=False)


def test_plan_sends_holds_every_alert_when_no_email_is_left():
    assert plan_sends(1, 0, 10) == SendPlan(digest=False, held=True)
    assert plan_sends(50, 0, 3, holding=True) == SendPlan(digest=False, held=True)


def test_plan_sends_after_a_hold_sends_several_alerts_as_one_digest_but_a_single_one_alone():
    assert plan_sends(1, 10, 10, holding=True) == SendPlan(digest=False, held=False)
    assert plan_sends(2, 10, 10, holding=True) == SendPlan(digest=True, held=False)
    assert plan_sends(2, 10, 10, holding=False) == SendPlan(digest=False, held=False)


# --- the [rules] verdict applied to a decision -----------------------------------------------------------------------

def verdict(skip: bool = False, tags=(), urgent: bool = False, reasons=()):  # type: ignore[no-untyped-def]
    from app.rules.rules import Verdict

    return Verdict(skip, tuple(tags), urgent, tuple(reasons))


def test_a_decision_without_rules_has_no_tags_is_not_urgent_and_not_skipped():
    for decision in (decide_seen(login(), None, AlertPolicy()), decide_seen(GARBAGE, None, AlertPolicy()),
                     decide_seen(login(), Seen(NOW - 60, NOW - 60, 1), AlertPolicy(notify="new"))):
        assert (decision.tags, decision.urgent, decision.rule_skipped) == ((), (), False)


def test_a_verdict_that_only_tags_keeps_the_decision_and_adds_its_tags():
    decision = Decision(True, True, False, None, None, 0)
    changed = with_verdict(decision, verdict(tags=("ops", "vpn"), reasons=("rule 'ops' (tag ops)",)))
    assert changed == Decision(True, True, False, None, None, 0, tags=("ops", "vpn"), urgent=(), rule_skipped=False)
    quiet = Decision(False, False, True, NOW - 600, NOW - 60, 3)
    assert with_verdict(quiet, verdict()) == quiet._replace(tags=(), urgent=(), rule_skipped=False)


def test_a_skip_rule_records_the_login_without_alerting_it():
    decision = Decision(True, True, False, None, None, 0)
    assert with_verdict(decision, verdict(skip=True, reasons=("rule 'ci' (skip)",))) == decision._replace(
        email=False, rule_skipped=True)


def test_an_urgent_verdict_alerts_even_a_login_the_policy_would_not_email_and_says_why():
    known = decide_seen(login(), Seen(NOW - 600, NOW - 60, 3), AlertPolicy(notify="new"))
    assert not known.email
    urgent = with_verdict(known, verdict(urgent=True, reasons=("a key not in authorized_keys", "outside work hours")))
    assert urgent == known._replace(email=True, urgent=("a key not in authorized_keys", "outside work hours"))


def test_an_urgent_login_is_alerted_even_when_a_skip_rule_matched_it():
    decision = Decision(True, False, True, NOW - 600, NOW - 60, 3)
    changed = with_verdict(decision, verdict(skip=True, urgent=True, reasons=("rule 'root' (urgent)",)))
    assert (changed.email, changed.rule_skipped, changed.urgent) == (True, False, ("rule 'root' (urgent)",))


def test_reasons_of_a_verdict_that_is_not_urgent_do_not_make_the_decision_urgent():
    changed = with_verdict(Decision(True, True, False, None, None, 0), verdict(tags=("x",), reasons=("rule 'x'",)))
    assert changed.urgent == ()


# --- the digest of logins held beyond the hourly limit --------------------------------------------------------

def test_the_first_limit_digest_goes_out_now() -> None:
    now = time.time()
    assert limit_digest_at(None, now) == now


def test_a_limit_digest_waits_digest_every_seconds_after_the_last_one() -> None:
    now = time.time()
    assert DIGEST_EVERY == 60.0
    assert limit_digest_at(now, now) == now + DIGEST_EVERY  # one just went: the next waits the whole minute
    assert limit_digest_at(now - 1, now) == now - 1 + DIGEST_EVERY
    assert limit_digest_at(now - DIGEST_EVERY + 0.5, now) == now + 0.5


def test_a_limit_digest_goes_out_now_once_digest_every_seconds_have_passed() -> None:
    now = time.time()
    assert limit_digest_at(now - DIGEST_EVERY, now) == now
    assert limit_digest_at(now - 3600, now) == now


def test_a_last_limit_digest_in_the_future_holds_nothing_back() -> None:
    now = time.time()
    assert limit_digest_at(now + 0.5, now) == now  # the clock ran ahead and came back
    assert limit_digest_at(now + 3600, now) == now

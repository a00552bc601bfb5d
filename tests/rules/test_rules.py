"""Per-login rules and work hours (pure): parsing with every problem named, matching, and the verdict."""

import calendar
import time
from typing import Dict, Optional, Set

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from app.rules.rules import (AFTER_LAST_RANGE, BAD_ACTION, BAD_DAY, BAD_KEY, BAD_KIND, BAD_NETWORK, BAD_TAG,
                                BAD_TIME, EMPTY_RANGE, MISSING_VALUE, NO_ARROW, NO_CONDITION, NO_DAYS, NO_TIME_RANGE,
                                PROBLEM, REASON_OUTSIDE_HOURS, REASON_RULE, REASON_SKIP_OVERRULED, REASON_STALE_KEY,
                                REPEATED_CONDITION, SKIP, TAG, UNKNOWN_CONDITION, URGENT, WorkHours, evaluate,
                                normalize_fingerprint, outside_work_hours, parse_rule, parse_rules, parse_work_hours)

DEPLOY_KEY = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"
OTHER_KEY = "SHA256:" + "A" * 43
README_RULES = {
    "deploy-bot": "key {} from 10.0.0.0/8 user deploy kind command -> skip".format(DEPLOY_KEY),
    "office": "from 192.0.2.0/24 -> tag office",
    "root-anywhere": "user root -> urgent",
}
MONDAY_NOON = time.gmtime(calendar.timegm((2026, 11, 23, 12, 0, 0)))  # a Monday
SUNDAY_3AM = time.gmtime(calendar.timegm((2026, 11, 22, 3, 0, 0)))
OFFICE_HOURS = parse_work_hours("Mon-Fri 08:00-19:00")


def login(user: str = "deploy", ip: str = "10.1.2.3", kind: str = "command", key: str = DEPLOY_KEY) -> Dict[str, str]:
    return {"user": user, "ip": ip, "kind": kind, "key_fingerprint": key}


def rules(**texts: str):
    parsed, problems = parse_rules(texts or README_RULES)
    assert problems == []
    return parsed


def verdict(the_login: Dict[str, str], authorized: Optional[Set[str]] = None, hours: Optional[WorkHours] = None,
            local_time: time.struct_time = MONDAY_NOON, **texts: str):
    return evaluate(rules(**texts), the_login, authorized, hours, local_time)


# --- parsing ------------------------------------------------------------------------------------------------


def test_the_readme_rules_parse_in_file_order():
    deploy, office, root = rules()
    assert (deploy.name, deploy.action, deploy.keys, deploy.users, deploy.kinds) == \
        ("deploy-bot", SKIP, {DEPLOY_KEY}, {"deploy"}, {"command"})
    assert [str(network) for network in deploy.networks] == ["10.0.0.0/8"]
    assert (office.action, office.tag, root.action) == (TAG, "office", URGENT)


def test_a_condition_takes_a_comma_separated_list_and_spaces_after_commas():
    rule, = rules(team="from 10.0.0.0/8, 2001:db8::/48 user alice,bob kind command, transfer -> tag team")
    assert [str(network) for network in rule.networks] == ["10.0.0.0/8", "2001:db8::/48"]
    assert rule.users == {"alice", "bob"} and rule.kinds == {"command", "transfer"}


def test_a_rule_continued_on_the_next_ini_line_parses():
    rule, problems = parse_rule("bot", "user deploy\n  from 10.0.0.0/8\n  -> skip")
    assert problems == [] and rule is not None and rule.text == "user deploy from 10.0.0.0/8 -> skip"


def test_bad_rules_are_all_named_at_once():
    good, problems = parse_rules({
        "deploy-bot": "key SHA256:abc from 10.0.0.300/8 user deploy kind shell -> skip",
        "office": "from 192.0.2.0/24 tag office",
        "everyone": "-> skip",
        "typo": "host web1 user -> delete",
        "twice": "user a user b -> tag two words",
        "fine": "user root -> urgent",
    })
    assert [rule.name for rule in good] == ["fine"]
    assert problems == [
        "[rules] deploy-bot: 'key SHA256:abc' is not a key fingerprint; write e.g. "
        "key SHA256:<43 characters, as ssh-keygen -lf prints>",
        "[rules] deploy-bot: 'from 10.0.0.300/8' is not an address or network; write e.g. from 10.0.0.0/8",
        PROBLEM.format(name="deploy-bot", problem=BAD_KIND.format(value="shell")),
        PROBLEM.format(name="office", problem=NO_ARROW.format(text="from 192.0.2.0/24 tag office")),
        PROBLEM.format(name="everyone", problem=NO_CONDITION.format(text="-> skip")),
        PROBLEM.format(name="typo", problem=BAD_ACTION.format(value="delete")),
        PROBLEM.format(name="typo", problem=UNKNOWN_CONDITION.format(word="host")),
        PROBLEM.format(name="typo", problem=MISSING_VALUE.format(word="user", example="user deploy")),
        PROBLEM.format(name="twice", problem=BAD_TAG.format(value="tag two words")),
        PROBLEM.format(name="twice", problem=REPEATED_CONDITION.format(word="user")),
    ]
    assert BAD_NETWORK.format(value="10.0.0.300/8") in problems[1] and BAD_KEY.format(value="SHA256:abc") in problems[0]


def test_a_missing_value_before_the_next_condition_is_named_and_the_next_condition_still_read():
    _, problems = parse_rule("r", "user from 10.0.0.300/8 -> skip")
    assert problems == [MISSING_VALUE.format(word="user", example="user deploy"),
                        BAD_NETWORK.format(value="10.0.0.300/8")]


def test_problems_show_hostile_rule_text_printably():
    _, problems = parse_rules({"bad\x1b[2J": "user\u202e x -> skip\x07"})
    assert all("\x1b" not in problem and "\u202e" not in problem and "\x07" not in problem for problem in problems)
    assert problems and all(problem.startswith("[rules] bad\\x1b[2J: ") for problem in problems)


def test_fingerprints_are_read_as_ssh_keygen_and_history_write_them():
    assert normalize_fingerprint(DEPLOY_KEY + "=") == DEPLOY_KEY
    assert normalize_fingerprint("ssh-ed25519 " + DEPLOY_KEY) == DEPLOY_KEY
    assert normalize_fingerprint("sha256:" + DEPLOY_KEY[7:]) == DEPLOY_KEY
    assert normalize_fingerprint("MD5:aa:bb") == normalize_fingerprint("ssh-rsa ?") == ""


# --- matching and the verdict -------------------------------------------------------------------------------


def test_a_skip_rule_skips_the_login_it_describes():
    result = verdict(login(), authorized={DEPLOY_KEY}, hours=OFFICE_HOURS)
    assert result == (True, (), False, (REASON_RULE.format(name="deploy-bot", action=SKIP),))


def test_a_skip_rule_needs_every_condition_to_match():
    assert not verdict(login(kind="interactive")).skip
    assert not verdict(login(ip="192.0.2.9")).skip
    assert not verdict(login(user="alice")).skip
    assert not verdict(login(key=OTHER_KEY)).skip


def test_a_key_condition_does_not_match_a_password_login_nor_a_kind_condition_an_unknown_kind():
    assert not verdict(login(key="")).skip
    assert not verdict(login(kind="")).skip


def test_a_skip_rule_does_not_hide_a_login_with_a_removed_key():
    result = verdict(login(), authorized={OTHER_KEY})
    assert (result.skip, result.urgent) == (False, True)
    assert REASON_STALE_KEY in result.reasons
    assert REASON_SKIP_OVERRULED.format(names="deploy-bot") in result.reasons


def test_a_skip_rule_does_not_hide_a_login_outside_work_hours():
    result = verdict(login(), authorized={DEPLOY_KEY}, hours=OFFICE_HOURS, local_time=SUNDAY_3AM)
    assert (result.skip, result.urgent) == (False, True)
    assert REASON_OUTSIDE_HOURS.format(hours="Mon-Fri 08:00-19:00") in result.reasons


def test_a_key_whose_fingerprint_cannot_be_read_counts_as_removed():
    result = verdict(login(key="ssh-ed25519 ?"), authorized={DEPLOY_KEY})
    assert result.urgent and REASON_STALE_KEY in result.reasons


def test_authorized_keys_are_not_checked_for_a_password_login_or_when_not_given():
    assert not verdict(login(user="alice", key=""), authorized={DEPLOY_KEY}).urgent
    assert not verdict(login(user="alice", key=OTHER_KEY), authorized=None).urgent


def test_every_matching_tag_applies_once_in_file_order():
    result = verdict(login(user="alice", ip="192.0.2.7"), office="from 192.0.2.0/24 -> tag office",
                     alice="user alice -> tag alice", again="kind command -> tag office")
    assert result.tags == ("office", "alice") and not result.skip and not result.urgent
    assert len(result.reasons) == 3


def test_an_urgent_rule_makes_the_login_urgent_and_tags_still_apply():
    result = verdict(login(user="root", ip="192.0.2.7"))
    assert result.urgent and result.tags == ("office",) and not result.skip


def test_ipv4_mapped_ipv6_addresses_match_ipv4_networks():
    assert verdict(login(ip="::ffff:10.9.8.7")).skip
    assert verdict(login(user="alice", ip="::ffff:192.0.2.7")).tags == ("office",)


rule_texts = st.sampled_from(["user deploy -> skip", "from 10.0.0.0/8 -> skip", "kind command -> skip",
                              "key {} -> skip".format(DEPLOY_KEY), "from 10.0.0.0/8 -> tag lan", "user root -> urgent"])


@given(st.lists(rule_texts, max_size=6), st.sampled_from(["deploy", "root", "alice"]),
       st.sampled_from(["10.1.2.3", "::ffff:10.1.2.3", "203.0.113.7"]),
       st.sampled_from(["interactive", "command", "transfer", "tunnel", ""]),
       st.sampled_from([DEPLOY_KEY, OTHER_KEY, ""]), st.booleans(), st.integers(0, 7 * 24 - 1))
def test_no_rule_skips_a_login_with_a_removed_key_or_at_night_and_nothing_skipped_is_urgent(
        texts, user, ip, kind, key, check_keys, hour_of_week):
    parsed, problems = parse_rules({"rule{}".format(index): text for index, text in enumerate(texts)})
    local_time = time.gmtime(calendar.timegm((2026, 11, 23, 0, 0, 0)) + hour_of_week * 3600)
    result = evaluate(parsed, login(user, ip, kind, key), {DEPLOY_KEY} if check_keys else None, OFFICE_HOURS,
                      local_time)
    assert problems == [] and not (result.skip and result.urgent)
    if (check_keys and key == OTHER_KEY) or outside_work_hours(OFFICE_HOURS, local_time):
        assert result.urgent and not result.skip


# --- work hours -----------------------------------------------------------------------------------------------


def at(weekday: int, hour: int, minute: int = 0) -> time.struct_time:
    """A struct_time on weekday (0 Monday) of the week of 2026-11-23."""
    return time.gmtime(calendar.timegm((2026, 11, 23 + weekday, hour, minute, 0)))


@pytest.mark.parametrize("text, days, start, end", [
    ("Mon-Fri 08:00-19:00", {0, 1, 2, 3, 4}, 480, 1140),
    ("Mon,Wed 09:00-17:30", {0, 2}, 540, 1050),
    ("Sat-Sun 10:00-12:00", {5, 6}, 600, 720),
    ("fri - mon 8:00 - 24:00", {4, 5, 6, 0}, 480, 1440),
    ("Monday,Friday 22:00-06:00", {0, 4}, 1320, 360),
])
def test_work_hours_examples_parse(text, days, start, end):
    hours = parse_work_hours(text)
    assert hours is not None and [tuple(window) for window in hours.windows] == [(frozenset(days), start, end)]


def test_several_work_hour_windows_are_comma_separated():
    hours = parse_work_hours("Mon-Fri 08:00-19:00, Sat 10:00-12:00")
    assert hours is not None and len(hours.windows) == 2
    assert not outside_work_hours(hours, at(5, 11)) and outside_work_hours(hours, at(5, 13))


@pytest.mark.parametrize("text", ["", "  ", "off", "None"])
def test_no_work_hours_means_nothing_is_outside_them(text):
    assert parse_work_hours(text) is None
    assert not outside_work_hours(None, SUNDAY_3AM)


@pytest.mark.parametrize("text, message", [
    ("Mon-Fri", NO_TIME_RANGE.format(text="Mon-Fri")),
    ("weekdays 08:00-19:00", BAD_DAY.format(day="weekdays")),
    ("Mon-Fry 08:00-19:00", BAD_DAY.format(day="Mon-Fry")),
    ("Mon-Fri 08:00-25:00", BAD_TIME.format(time="25:00")),
    ("Mon-Fri 24:00-08:00", BAD_TIME.format(time="24:00")),
    ("Mon-Fri 08:60-19:00", BAD_TIME.format(time="08:60")),
    ("Mon-Fri 08:00-08:00", EMPTY_RANGE.format(range="08:00-08:00")),
    ("Mon-Fri 08:00-19:00 UTC", AFTER_LAST_RANGE.format(text="UTC")),
    ("Mon-Fri 08:00-12:00, 13:00-19:00", NO_DAYS.format(range="13:00-19:00")),
])
def test_bad_work_hours_say_what_to_write(text, message):
    with pytest.raises(ValueError) as raised:
        parse_work_hours(text)
    assert str(raised.value) == message


def test_work_hours_that_run_past_midnight_cover_the_next_morning():
    night = parse_work_hours("Fri 22:00-06:00")
    assert not outside_work_hours(night, at(4, 23)) and not outside_work_hours(night, at(5, 5, 59))
    assert outside_work_hours(night, at(5, 6)) and outside_work_hours(night, at(4, 5))


def reference_inside(days: Set[int], start: int, end: int, weekday: int, minute: int) -> bool:
    """Minute by minute from each start day: the slow, obvious meaning of a window."""
    length = (end - start) % 1440 or 1440
    return any((day + (start + offset) // 1440) % 7 == weekday and (start + offset) % 1440 == minute
               for day in days for offset in range(length))


@given(st.sets(st.integers(0, 6), min_size=1), st.integers(0, 1439), st.integers(1, 1440), st.integers(0, 6),
       st.integers(0, 1439))
def test_outside_work_hours_agrees_with_walking_the_window_minute_by_minute(days, start, end, weekday, minute):
    assume(start != end)
    names = ",".join(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[day] for day in sorted(days))
    hours = parse_work_hours("{} {:02d}:{:02d}-{:02d}:{:02d}".format(names, *divmod(start, 60), *divmod(end, 60)))
    assert outside_work_hours(hours, at(weekday, *divmod(minute, 60))) == \
        (not reference_inside(days, start, end, weekday, minute))


@given(st.integers(0, 4), st.integers(0, 1438))
def test_the_start_minute_is_inside_and_the_end_minute_outside(weekday, start):
    hours = parse_work_hours("Mon-Fri {:02d}:{:02d}-{:02d}:{:02d}".format(*divmod(start, 60), *divmod(start + 1, 60)))
    assert not outside_work_hours(hours, at(weekday, *divmod(start, 60)))
    assert outside_work_hours(hours, at(weekday, *divmod(start + 1, 60)))
    if start:
        assert outside_work_hours(hours, at(weekday, *divmod(start - 1, 60)))

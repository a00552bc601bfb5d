"""[users]: routing each account's login alerts (app.rules.routing) and how the config reads the section."""

from pathlib import Path

from app.rules.routing import BAD_ACCOUNT, BAD_VALUE, Route, addresses_for, parse_users, skip_rules
from app.rules.rules import SKIP, evaluate
from app.settings.config import load_config
from app.settings.configwrite import render_config


def test_users_section_parses_addresses_skips_and_groups():
    routes, problems = parse_users({"alice": "alice@example.com", "deploy": "skip",
                                    "%admins": "ops@example.com, sec@example.com"})
    assert problems == []
    assert routes == [Route("alice", ("alice@example.com",), False), Route("deploy", (), True),
                      Route("%admins", ("ops@example.com", "sec@example.com"), False)]


def test_bad_users_entries_name_the_key_and_what_to_write():
    routes, problems = parse_users({"bad name": "x@example.com", "bob": "not an address"})
    assert routes == []
    assert problems == [BAD_ACCOUNT.format(name="bad name"), BAD_VALUE.format(name="bob", value="not an address")]


def test_addresses_for_an_account_come_from_its_name_and_its_groups_once_each():
    routes = (Route("alice", ("alice@example.com",), False), Route("%admins", ("ops@example.com",), False),
              Route("%devs", ("alice@example.com", "dev@example.com"), False), Route("carol", (), True))

    def member(user: str, group: str) -> bool:
        return (user, group) in {("alice", "admins"), ("alice", "devs"), ("bob", "devs")}

    assert addresses_for(routes, "alice", ("ops@example.com",), member) == ("alice@example.com", "dev@example.com")
    assert addresses_for(routes, "bob", (), member) == ("alice@example.com", "dev@example.com")
    assert addresses_for(routes, "carol", (), member) == ()


def test_a_skip_is_a_rule_of_the_rules_engine_so_urgent_logins_still_go():
    (rule,) = skip_rules([Route("deploy", (), True)])
    login = {"user": "deploy", "ip": "203.0.113.7", "kind": "", "key_fingerprint": ""}
    assert rule.action == SKIP
    assert evaluate((rule,), login, None, None, None).skip
    assert not evaluate((rule,), dict(login, user="alice"), None, None, None).skip


def test_config_reads_users_and_writes_them_back(tmp_path: Path):
    path = tmp_path / "config.ini"
    path.write_text("[alert]\nto = root@example.com\nfrom = a@example.com\nmethod = sendmail\n\n"
                    "[users]\nalice = alice@example.com\ndeploy = skip\n")
    config = load_config(path)
    assert [route.account for route in config.routes] == ["alice", "deploy"]
    assert not config.warnings
    assert "[users]\nalice = alice@example.com\ndeploy = skip\n" in render_config(config)

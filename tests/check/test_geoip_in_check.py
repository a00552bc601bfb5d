"""geoip_db in check, with a real SMTP server: where a login came from in the email, the history and the events;
new country / new network as tags and as [rules] conditions; a broken database never stops an alert."""

import shutil
import time
from pathlib import Path
from typing import List

from app.logins import geoip
from app.store import history
from app.check.events import login_event
from app.channels.syslog import event_lines
from app.commands.check import run_check
from app.system.paths import Paths
from helpers import append_log, login_line, smtp_settings, write_config
from support.mailsink import MailSink
from support.mmdbfiles import write_dated
from support.stored import recorded

MMDB = Path(__file__).resolve().parents[1] / "fixtures" / "mmdb"
CITY, ASN = str(MMDB / "dbip-city-lite-test.mmdb"), str(MMDB / "dbip-asn-lite-test.mmdb")
GERMANY, FRANCE, JAPAN, NETHERLANDS = "203.0.113.7", "198.51.100.7", "192.0.2.7", "2001:db8::7"


def configure(paths: Paths, sink: MailSink, rules: str = "", **alert: str) -> None:
    write_config(paths, alert=dict({"geoip_db": "{}, {}".format(CITY, ASN)}, **alert), smtp=smtp_settings(sink))
    if rules:
        with open(str(paths.config_file), "a") as handle:
            handle.write("[rules]\n" + rules)
    run_check(paths)


def login(paths: Paths, ip: str, number: int, user: str = "alice") -> None:
    when = time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(time.time() - 600 + number))
    extras = "cport={} saddr=10.0.0.1 sport=22 tty=none kind=command".format(40000 + number)
    append_log(paths, login_line(ip=ip, user=user, when=when, extras=extras))


def subjects(sink: MailSink) -> List[str]:
    return [received.message["Subject"] for received in sink.messages]


def body(sink: MailSink, index: int = -1) -> str:
    return sink.messages[index].message.get_body(("plain",)).get_content()


def test_the_email_says_where_the_login_came_from_and_credits_the_database(paths: Paths, sink: MailSink) -> None:
    configure(paths, sink)
    login(paths, GERMANY, 1)
    run_check(paths)
    text = body(sink)
    assert "Frankfurt am Main, DE (Germany), AS64500 Example Hosting GmbH" in text
    assert "IP geolocation by DB-IP (https://db-ip.com), CC BY 4.0" in text
    entry = recorded(paths)[-1]
    assert (entry.country, entry.city, entry.asn, entry.org) == ("DE", "Frankfurt am Main", 64500,
                                                                 "Example Hosting GmbH")


def test_a_second_country_and_network_are_tagged_new_and_a_known_one_is_not(paths: Paths, sink: MailSink) -> None:
    configure(paths, sink)
    login(paths, GERMANY, 1)
    run_check(paths)
    login(paths, "203.0.113.99", 2)  # same country, same network, new address
    login(paths, FRANCE, 3)
    run_check(paths)
    first, same, other = subjects(sink)
    assert "NEW COUNTRY" not in first and "NEW NETWORK" not in first  # no baseline yet: nothing to compare
    assert "NEW COUNTRY" not in same and "NEW NETWORK" not in same and "[NEW IP]" in same
    assert other.startswith("[NEW COUNTRY] [NEW NETWORK] [NEW IP] ")
    assert "first login of alice from this country and network" in body(sink)
    assert [(entry.new_country, entry.new_network) for entry in recorded(paths)] == [
        (False, False), (False, False), (True, True)]


def test_novelty_is_per_account(paths: Paths, sink: MailSink) -> None:
    configure(paths, sink)
    login(paths, GERMANY, 1, user="alice")
    login(paths, FRANCE, 2, user="bob")
    login(paths, FRANCE, 3, user="alice")
    run_check(paths)
    assert [entry.new_country for entry in recorded(paths)] == [False, False, True]


def test_enabling_geoip_later_takes_the_baseline_from_the_history(paths: Paths, sink: MailSink) -> None:
    write_config(paths, smtp=smtp_settings(sink))
    run_check(paths)
    login(paths, GERMANY, 1)
    run_check(paths)
    configure(paths, sink)
    login(paths, "203.0.113.50", 2)
    login(paths, JAPAN, 3)
    run_check(paths)
    assert [entry.new_country for entry in recorded(paths)] == [False, False, True]


def test_a_rule_on_the_network_tags_the_login(paths: Paths, sink: MailSink) -> None:
    configure(paths, sink, "hoster = asn AS64500 -> tag hoster\n")
    login(paths, GERMANY, 1)
    login(paths, JAPAN, 2)
    run_check(paths)
    tagged = [subject for subject in subjects(sink) if "[hoster]" in subject]
    assert len(tagged) == 1 and GERMANY in tagged[0]


def test_a_rule_makes_a_new_country_urgent_even_under_notify_new(paths: Paths, sink: MailSink) -> None:
    configure(paths, sink, "abroad = new_country -> urgent\n", notify="new")
    login(paths, GERMANY, 1)
    run_check(paths)
    login(paths, NETHERLANDS, 2)
    run_check(paths)
    assert subjects(sink)[-1].startswith("[URGENT] [NEW COUNTRY]")
    assert "rule abroad: urgent" in body(sink)


def test_a_country_rule_can_skip_a_home_country_but_not_a_new_network_made_urgent(paths: Paths,
                                                                                     sink: MailSink) -> None:
    configure(paths, sink, "home = country DE -> skip\nodd = new_network -> urgent\n")
    login(paths, FRANCE, 1)
    login(paths, GERMANY, 2)
    run_check(paths)
    assert [entry.outcome for entry in recorded(paths)] == [history.EMAILED, history.EMAILED]
    assert subjects(sink)[-1].startswith("[URGENT]")


def test_a_missing_or_corrupt_database_leaves_alerts_going_without_location(paths: Paths, sink: MailSink,
                                                                          tmp_path: Path) -> None:
    broken = tmp_path / "broken.mmdb"
    shutil.copy(str(MMDB / "maxmind" / "cyclic-data-structure.mmdb"), str(broken))
    configure(paths, sink, geoip_db="{}, {}".format(tmp_path / "missing.mmdb", broken))
    login(paths, GERMANY, 1)
    run_check(paths)
    assert len(sink.messages) == 1 and "Location" not in body(sink)
    log = paths.oplog_file.read_text()
    assert "missing.mmdb" in log and "broken.mmdb" in log


def test_events_carry_the_place_for_push_webhook_and_syslog(paths: Paths, sink: MailSink) -> None:
    configure(paths, sink)
    login(paths, FRANCE, 1)
    run_check(paths)
    entry = recorded(paths)[-1]
    event = login_event(entry, "id", "web1")
    assert event["logins"][0]["country"] == "FR" and event["logins"][0]["asn"] == 64501
    assert event["logins"][0]["geo_attribution"] == ["IP geolocation by DB-IP (https://db-ip.com), CC BY 4.0"]
    assert "Where: Paris, FR (France), AS64501 Exemple Réseau SA" in event["text"]
    assert "Geo data: IP geolocation by DB-IP" in event["text"]
    line = event_lines(event)[0]
    assert "country=FR asn=64501" in line


def test_ipinfo_lite_gives_country_and_network_with_its_attribution() -> None:
    locator = geoip.Locator([str(MMDB / "ipinfo-lite-test.mmdb")])
    place = locator.locate(NETHERLANDS)
    assert (place.country, place.country_name, place.asn, place.org) == ("NL", "Netherlands", 64503, "Voorbeeld BV")
    assert place.sources == ("IP address data powered by IPinfo (https://ipinfo.io), CC BY-SA 4.0",)


def test_maxmind_geolite2_city_and_asn_files_are_read_and_credited() -> None:
    locator = geoip.Locator([str(MMDB / "maxmind" / "GeoIP2-City-Test.mmdb"),
                             str(MMDB / "maxmind" / "GeoLite2-ASN-Test.mmdb")])
    place = locator.locate("::ffff:81.2.69.160")
    assert (place.country, place.city) == ("GB", "London")
    assert locator.locate("1.128.0.1").asn == 1221
    assert "GeoIP2 data created by MaxMind" in place.sources[0]


def test_a_stale_database_is_named_with_its_age(tmp_path: Path) -> None:
    database = str(write_dated(Path(CITY), tmp_path / "city.mmdb", time.time()))  # built now: no fixed dates
    with_age = geoip.stale_databases([database], now=time.time() + 90 * 86400)
    assert len(with_age) == 1 and "built 90 days ago" in with_age[0]
    assert geoip.stale_databases([database]) == []


def test_a_run_whose_mail_server_fails_keeps_the_novelty_of_the_logins_it_did_not_record(
        paths: Paths, sink: MailSink, monkeypatch) -> None:
    configure(paths, sink)
    login(paths, GERMANY, 1)
    run_check(paths)
    login(paths, GERMANY, 2)
    login(paths, JAPAN, 3)
    from app.store import outbox
    from app.errors import UserError

    real_flush, calls = outbox.flush, []

    def failing(*args, **kwargs):  # the mail server goes down once the run has posted the first login
        calls.append(1)
        if len(calls) == 1:
            return real_flush(*args, **kwargs)
        raise outbox.SendFailed("server down")

    with monkeypatch.context() as patch:
        patch.setattr(outbox, "flush", failing)
        try:
            run_check(paths)
        except UserError:
            pass
    run_check(paths)
    tokyo = [entry for entry in recorded(paths) if entry.ip == JAPAN]
    assert [entry.new_country for entry in tokyo] == [True]
    assert any(subject.startswith("[NEW COUNTRY]") and JAPAN in subject for subject in subjects(sink))


def test_a_digest_lists_each_logins_country_and_network(paths: Paths, sink: MailSink) -> None:
    configure(paths, sink, digest_after="1")
    login(paths, GERMANY, 1)
    login(paths, NETHERLANDS, 2)
    run_check(paths)
    (received,) = sink.messages
    text = received.message.get_body(("plain",)).get_content()
    assert "alice@{} DE AS64500 ".format(GERMANY) in text and "alice@{} NL AS64503 ".format(NETHERLANDS) in text
    from app.check.events import digest_event

    event = digest_event([login_event(entry, entry.log_key, "web1") for entry in recorded(paths)], "web1")
    assert "[Frankfurt am Main, DE (Germany), AS64500 Example Hosting GmbH]" in event["text"]

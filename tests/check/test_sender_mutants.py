"""The Sender's counts and reports, pinned where mutants of app/check/sender.py survived: the pushed events
summed over sends, the channels' refusals and long waits recorded under their own keys, the failures named once,
the deferral's text. A real store; the fan-out is a stand-in that answers what its channels would have (the push
APIs are on the public internet)."""

from typing import List, Tuple

import pytest

from app.check.context import RunParts
from app.check.render import Envelope
from app.check.sender import Sender
from app.channels.delivery import SendResult
from app.settings.config import parse_config
from app.store.store import Store
from app.system.oplog import OperationalLog
from app.system.paths import Paths

from tests.check.test_sender import TO, Transport, post, sender_for
from support.stores import store  # noqa: F401  (the fixture: the store at the account's own place)


class FanOut:
    """Stands in for app.check.fanout.Channels: each collect takes the next count; refusals, long waits and
    failures are handed out once, as the real one does."""

    def __init__(self, counts: List[int], refused: List[Tuple[str, str]] = [], waits: List[Tuple[str, str]] = [],
                 failed: List[Tuple[str, str]] = []) -> None:
        self.counts, self.refused, self.waits, self.failed = list(counts), list(refused), list(waits), list(failed)
        self.started = self.finished = 0

    def start(self) -> None:
        self.started += 1

    def collect(self) -> int:
        return self.counts.pop(0) if self.counts else 0

    def take_refused(self) -> List[Tuple[str, str]]:
        taken, self.refused = self.refused, []
        return taken

    def take_long_waits(self) -> List[Tuple[str, str]]:
        taken, self.waits = self.waits, []
        return taken

    def take_failed(self) -> List[Tuple[str, str]]:
        taken, self.failed = self.failed, []
        return taken

    def finish(self) -> None:
        self.finished += 1


def push_sender(paths: Paths, store: Store, fanout: FanOut, emails: bool = False) -> Sender:
    """A Sender whose alerts go through ntfy alone (or by email too)."""
    text = "[alert]\nchannels = {}\nhost_label = web1\n".format("email, ntfy" if emails else "ntfy")
    if emails:
        text += "to = {}\nfrom = s@example.com\nmethod = sendmail\nsendmail_path = /bin/true\n".format(", ".join(TO))
    text += "[ntfy]\nurl = https://ntfy.example.com/alerts\nsecret_store = none\n"
    config = parse_config(text, paths.config_file)
    parts = RunParts(paths, store, config, Envelope("s@example.com", TO, "web1", "web1.example.com"),
                     OperationalLog(paths.oplog_file))
    return Sender(parts, Transport(), fanout, None)  # type: ignore[arg-type]


def test_without_email_the_alerts_are_the_events_the_channels_took_summed_over_every_send(
        paths: Paths, store: Store) -> None:
    sender = push_sender(paths, store, FanOut([2, 3]))
    assert sender.alerts() == 0
    sender.send()
    sender.send()
    assert sender.pushed == 5 and sender.alerts() == 5 and sender.emailed == 0


def test_with_email_the_alerts_are_the_emails_not_the_events(paths: Paths, store: Store) -> None:
    sender = push_sender(paths, store, FanOut([4]), emails=True)
    post(store, 1)
    sender.send()
    assert sender.emailed == 1 and sender.pushed == 4 and sender.alerts() == 1


def test_a_channel_refusing_for_good_is_recorded_as_a_refused_channel_not_a_refused_recipient(
        paths: Paths, store: Store) -> None:
    sender = push_sender(paths, store, FanOut([0], refused=[("ntfy", "403 forbidden")]))
    sender.send()
    assert store.get("channel_refused") == {"ntfy": "403 forbidden"}
    assert not store.get("refused") and not store.get("channel_waits")


def test_a_channel_asking_to_wait_long_is_recorded_as_a_long_wait(paths: Paths, store: Store) -> None:
    sender = push_sender(paths, store, FanOut([0], waits=[("ntfy", "Retry-After 7200 s")]))
    sender.send()
    assert store.get("channel_waits") == {"ntfy": "Retry-After 7200 s"}
    assert not store.get("channel_refused")


def test_each_channel_failure_is_one_problem_named_by_its_channel_once(paths: Paths, store: Store) -> None:
    sender = push_sender(paths, store, FanOut([0], failed=[("ntfy", "ntfy: 500 down"), ("gotify", "timed out"),
                                                           ("webhook", "webhooks: 502")]))
    assert sender.problems() == ["ntfy: 500 down", "gotify: timed out", "webhook: webhooks: 502"]
    assert sender.problems() == []


def test_a_deferral_problem_says_who_deferred_how_many_and_the_reply_in_words(paths: Paths, store: Store) -> None:
    transport = Transport(SendResult(accepted=("a@example.com",), deferred=(("b@example.com", "451 later"),)))
    sender = sender_for(paths, store, transport)
    post(store, 1)
    sender.send()
    expected = ("b@example.com deferred 1 alert(s): 451 later; it gets them when it accepts again "
                "(the others got theirs)")
    assert sender.problems() == [expected]
    assert expected in paths.oplog_file.read_text()

"""check with a real aiosmtpd server: a recipient that answers 452 (mailbox full) holds back no alert for the others,
and a final dot never answered is a diagnosis; the alert stays pending and its retry carries the same Message-ID."""

import time
from typing import List

import pytest

from app.commands.check import run_check
from app.errors import ExitCode, UserError
from app.system.paths import Paths
from helpers import append_log, login_line, smtp_settings, write_config
from support.mailsink import MailSink
from support.stored import failures, unsent

OWNER, FULL = "owner@example.com", "full@example.com"


def now_line(number: int) -> bytes:
    """A login of now (test data is built from the current time), one connection each."""
    when = time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(time.time() - 60 + number))
    return login_line(ip="198.51.100.{}".format(number), when=when,
                      extras="cport={} saddr=10.0.0.1 sport=22 tty=/dev/pts/0 hook=bash-profile".format(40000 + number))


def ids_to(server: MailSink, address: str) -> List[str]:
    return [str(received.message["Message-ID"]) for received in server.messages if address in received.envelope_to]


def test_a_recipient_answering_452_holds_back_no_alert_for_the_other(paths: Paths):
    with MailSink("plain", defer=[FULL]) as server:
        write_config(paths, alert={"to": "{}, {}".format(OWNER, FULL)}, smtp=smtp_settings(server))
        run_check(paths)  # seeds
        for number in (1, 2, 3):
            append_log(paths, now_line(number))
            with pytest.raises(UserError) as raised:
                run_check(paths)
            assert raised.value.exit_code == ExitCode.NOT_DONE
            assert FULL in raised.value.message and "452" in raised.value.message
            assert len(ids_to(server, OWNER)) == number  # at the check that handled it, not after the deferral
        assert ids_to(server, FULL) == []
        assert failures(paths) and FULL in failures(paths)[0][2]  # status says FAIL meanwhile
        assert len(unsent(paths)) == 3  # kept for the deferred recipient alone
        server.defer.clear()
        run_check(paths)
        assert ids_to(server, FULL) == ids_to(server, OWNER)  # each once, in order, the same Message-IDs
        assert len(server.messages) == 6
        assert unsent(paths) == [] and failures(paths) == []
        run_check(paths)
        assert len(server.messages) == 6


def test_a_final_dot_never_answered_is_a_diagnosis_and_the_retry_carries_the_same_message_id(paths: Paths):
    with MailSink("plain", stall_data=True) as server:
        write_config(paths, smtp=smtp_settings(server, timeout="1"))
        run_check(paths)
        append_log(paths, now_line(1))
        with pytest.raises(UserError) as raised:
            run_check(paths)
        assert raised.value.exit_code == ExitCode.NOT_DONE  # not INTERNAL: no AttributeError
        assert "end of data" in raised.value.message and "stay pending" in raised.value.message
        (pending,) = unsent(paths)
        server.stall_data = False
        run_check(paths)
        copies = server.wait_for(1)
    # aiosmtpd drops the stalled transaction when the client hangs up; a server that queued it anyway would hold
    # a copy with this same Message-ID, so the duplicate is recognisable as one
    assert {str(copy.message["Message-ID"]) for copy in copies} == {pending.message_id}
    assert unsent(paths) == []

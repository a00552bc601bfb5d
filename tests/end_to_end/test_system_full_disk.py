"""The system-wide mode with /var/lib/ssh-alert on a small filesystem that fills up, against a real sshd with
UsePAM yes (root): a login whose line the PAM hook cannot append still works, prints nothing and is alerted, with
its address, exactly once, from the PAM environment; also after space is freed and later checks run.

The state directory is a 2 MiB tmpfs mounted before setup (for a store without its reserve, filled before setup
to about 260 KiB free); /etc/pam.d/sshd and root's crontab are restored byte for byte and the tmpfs unmounted in
a finally (support.pamsystem.installed_system).
"""

import time
from pathlib import Path
from typing import Iterator, Tuple

import pytest

from app.store.store import opened
from app.system.paths import SYSTEM_STATE_DIR
from support.fulldisk import NO_ROOM_FOR_A_RESERVE, fill
from support.pamsystem import (System, alerts_of, assert_names_the_login, installed_system, ok, pyz_command, settle,
                               silent_login)

PAGE = 4096  # tmpfs allocates a file's bytes by the page: an append fits in its last page's room, or is cut there
LOG = SYSTEM_STATE_DIR / "logins.log"


@pytest.fixture(scope="module", params=["store-with-reserve", "store-without-reserve"])
def full_disk_system(request: pytest.FixtureRequest, pyz: Path,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    def fill_before_setup() -> None:
        if request.param == "store-without-reserve":
            fill(SYSTEM_STATE_DIR, leave=NO_ROOM_FOR_A_RESERVE, name="filled-before-setup")

    with installed_system(pyz, tmp_path_factory.mktemp("system-full-disk"), state_size="2m",
                          before_setup=fill_before_setup) as system:
        yield system


def leave_room_in_the_last_page(log: Path, room: int) -> None:
    """Append repeats of the log's last line (a login already alerted, padded with an extra no check reads) until
    only room bytes are left in the log's last page: the next line is cut there (or, room 0, not a byte of it fits)."""
    last = log.read_bytes().splitlines()[-1] + b" pad="
    size = log.stat().st_size
    needed = (PAGE - room - size) % PAGE
    if needed < len(last) + 1:
        needed += PAGE
    count = -(-needed // (len(last) + 1 + 800))
    lengths = [needed // count] * count
    lengths[-1] += needed - sum(lengths)
    with open(str(log), "ab") as handle:
        for length in lengths:
            handle.write(last + b"x" * (length - len(last) - 1) + b"\n")
    assert (PAGE - log.stat().st_size % PAGE) % PAGE == room


def newest_connection() -> Tuple[str, float]:
    with opened(SYSTEM_STATE_DIR / "store.db", read_only=True) as store:
        return max(store.recent(), key=lambda pair: pair[1])


def line_of(user: str, connection: str, epoch: float) -> bytes:
    """The line the PAM hook would have written for connection (client ip, port, server ip, port, sshd pid)."""
    ip, port, server, server_port, spid = connection.split()
    return "{} {} {} publickey cport={} saddr={} sport={} tty=none hook=pam epoch={:.0f} spid={}".format(
        time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(epoch)), ip, user, port, server, server_port, epoch,
        spid).encode()


@pytest.mark.parametrize("room", [60, 0], ids=["line-cut-by-the-full-disk", "not-a-byte-of-it-written"])
def test_a_login_whose_line_the_full_disk_refuses_is_alerted_from_the_pam_environment_once(full_disk_system: System,
                                                                                          room: int):
    system = full_disk_system
    alerts_of(system, lambda: ok(system.server.ssh("true")))  # a login line to repeat as padding
    leave_room_in_the_last_page(LOG, room)
    ok(pyz_command(system.pyz, "check", "--system"))
    settle(system)
    before = LOG.read_bytes()
    filler = fill(SYSTEM_STATE_DIR, name="filler")
    try:
        (received,) = alerts_of(system, lambda: silent_login(system))  # works, prints nothing, alerted once
        assert_names_the_login(system, received)
        assert LOG.read_bytes() == before  # not a byte of it stays in the log: the next line starts clean
    finally:
        filler.unlink()
    # Space again: the hook's next check and cron's change nothing, nor the line itself had it got in late.
    ok(pyz_command(system.pyz, "check", "--system"))
    ok(pyz_command(system.pyz, "check", "--system", "--cron"))
    connection, epoch = newest_connection()
    assert connection.startswith("127.0.0.1 ") and abs(epoch - time.time()) < 120
    with open(str(LOG), "ab") as handle:
        handle.write(line_of(system.server.user, connection, epoch) + b"\n")
    ok(pyz_command(system.pyz, "check", "--system"))
    settle(system)  # every check has ended: a late duplicate would be in the sink
    # (the cron run may add notices of its own, e.g. key files of other tests' accounts: only login alerts count)
    logins = [message for message in system.sink.messages if "SSH login:" in message.message["Subject"]]
    assert [message.message["Message-ID"] for message in logins] == [received.message["Message-ID"]]
    (following,) = alerts_of(system, lambda: ok(system.server.ssh("true")))  # the next login: its own alert, once
    assert_names_the_login(system, following)
    assert following.message["Message-ID"] != received.message["Message-ID"]

"""history's KIND comes from the log line: a connection's first hook (~/.ssh/rc, which cannot tell a command
from a transfer) leaves it open, a later line of the same connection (bashrc: kind=command) fills it in."""

import time

from app.store import history
from app.check.run import run_check
from app.store.store import opened
from app.system.paths import Paths
from helpers import append_log, login_line

EPOCH = int(time.time())
WHEN = time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(EPOCH))
COMMON = "cport=51234 saddr=10.0.0.1 sport=22 tty=none epoch={} spid=4242".format(EPOCH)


def kinds(paths: Paths):
    with opened(paths.store_file) as store:
        return [entry.kind for entry in history.read(store)]


def test_a_later_hook_line_of_the_same_connection_fills_in_the_kind(configured: Paths):
    assert run_check(configured).seeded is not None
    append_log(configured, login_line(when=WHEN, extras=COMMON + " hook=ssh-rc"))
    run_check(configured)
    assert kinds(configured) == [""]
    append_log(configured, login_line(when=WHEN, extras=COMMON + " hook=bashrc kind=command"))
    run_check(configured)
    assert kinds(configured) == ["command"]


def test_lines_of_one_connection_in_one_batch_record_the_kind_at_once(configured: Paths):
    run_check(configured)
    append_log(configured, login_line(when=WHEN, extras=COMMON + " hook=ssh-rc"),
               login_line(when=WHEN, extras=COMMON + " hook=bashrc kind=transfer"))
    run_check(configured)
    assert kinds(configured) == ["transfer"]

"""The pyz as a user drives it: setup --channel with the token on stdin, test --channel, status, against a real
HTTPS server on loopback; the token never lands in the config, argv or output."""

from pathlib import Path


from app.commands.setup_channel import CHANNEL_ADDED, CHANNEL_TEST_FAILED
from app.system.paths import Paths
from helpers import pyz_env, run_pyz, smtp_settings, write_config
from support.httpsworld import HttpsWorld
from support.mailsink import MailSink

TOKEN = "tk_pyz_token_789"


def add_ntfy(pyz: Path, home: Path, shiv_root: Path, world: HttpsWorld):
    return run_pyz(pyz, ["setup", "--channel", "ntfy", "--ntfy-url", world.url + "/alerts", "--ntfy-ca-file",
                         world.ca_file, "--token-stdin", "--non-interactive"], pyz_env(home, shiv_root),
                   stdin=TOKEN + "\n")


def test_setup_channel_tests_then_saves_and_keeps_the_token_out_of_the_config(
        paths: Paths, home: Path, sink: MailSink, pyz: Path, shiv_root: Path) -> None:
    write_config(paths, smtp=smtp_settings(sink))
    with HttpsWorld(api="ntfy") as world:
        result = add_ntfy(pyz, home, shiv_root, world)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == CHANNEL_ADDED.format(channel="ntfy", channels="email, ntfy")
        (request,) = world.requests
        assert request.headers["authorization"] == "Bearer " + TOKEN
        text = paths.config_file.read_text()
        assert "ntfy" in text and TOKEN not in text and (paths.config_file.stat().st_mode & 0o777) == 0o600
        tested = run_pyz(pyz, ["test", "--channel", "ntfy"], pyz_env(home, shiv_root))
        assert tested.returncode == 0 and "ntfy" in tested.stdout
        assert len(world.requests) == 2 and world.requests[1].headers["authorization"] == "Bearer " + TOKEN
        world.respond(401, b'{"code":40101,"http":401,"error":"unauthorized"}')
        refused = run_pyz(pyz, ["test", "--channel", "ntfy"], pyz_env(home, shiv_root))
        assert refused.returncode == 1 and "Traceback" not in refused.stderr
        assert "setup --channel ntfy --token-stdin" in refused.stderr and TOKEN not in refused.stderr
        status = run_pyz(pyz, ["status", "--json"], pyz_env(home, shiv_root))
        assert TOKEN not in status.stdout


def test_a_failed_channel_test_saves_nothing(paths: Paths, home: Path, sink: MailSink, pyz: Path,
                                             shiv_root: Path) -> None:
    write_config(paths, smtp=smtp_settings(sink))
    before = paths.config_file.read_text()
    with HttpsWorld(api="ntfy") as world:
        world.respond(403, b'{"code":40301,"http":403,"error":"forbidden"}')
        result = add_ntfy(pyz, home, shiv_root, world)
    assert result.returncode == 1 and result.stderr.startswith("ssh_alert: ")
    assert CHANNEL_TEST_FAILED.split(":")[0].format(channel="ntfy") in result.stderr
    assert paths.config_file.read_text() == before and TOKEN not in result.stderr


def test_a_missing_required_setting_is_named_with_its_flag(paths: Paths, home: Path, sink: MailSink, pyz: Path,
                                                            shiv_root: Path) -> None:
    write_config(paths, smtp=smtp_settings(sink))
    result = run_pyz(pyz, ["setup", "--channel", "telegram", "--token-stdin", "--non-interactive"],
                     pyz_env(home, shiv_root), stdin="123:abc\n")
    assert result.returncode == 2 and "--telegram-chat-id" in result.stderr and "123:abc" not in result.stderr


def test_test_channel_for_a_channel_not_set_up_says_how(paths: Paths, home: Path, sink: MailSink, pyz: Path,
                                                        shiv_root: Path) -> None:
    write_config(paths, smtp=smtp_settings(sink))
    result = run_pyz(pyz, ["test", "--channel", "matrix"], pyz_env(home, shiv_root))
    assert result.returncode == 2 and "[alert] channels" in result.stderr

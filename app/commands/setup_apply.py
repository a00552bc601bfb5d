"""setup's effects, once every answer is settled: the password, the config, the migration, the test, the check.

In order: the password goes to the OS keyring or the password file, the config is written (0600,
atomically), the original script's password and log are migrated, a test alert is sent, and ``check``
runs once (it seeds, or alerts what the original script had not alerted yet).
"""

from __future__ import annotations

from app.install.hookstate import installed
from app.commands.prompt import Prompter
from app.commands.result import Result
from app.commands.setup_answers import Plan
from app.commands.setup_mail import LOCAL_ONLY_WARNING, first_check, local_only_problem, say_all, test_email
from app.errors import CONFIG_UNREADABLE, ExitCode, UserError
from app.install.legacy import find_legacy
from app.settings.config import Config
from app.settings.configwrite import render_config
from app.system.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, Tuple

PASSWORD_STORED = "Password stored in {description}."
PASSWORD_COMMAND = "Password: from password_command, run each time a mail is sent (not stored)."
CONFIG_WRITTEN = "Configuration written to {path} (mode 0600)."
CONFIG_UNCHANGED = "Configuration {path} unchanged."
CONFIG_DIFF = "Changes to {path}:"
HOOK_WAIT_CHOSEN = ("Each login waits up to {seconds:g} s until its alert has left (hook_wait): the alert leaves before "
                    "the session starts, so an intruder's first command cannot stop it, at the cost of the delivery "
                    "time per login; hook_wait = 0 in [alert] starts the session at once instead.")
HOOK_WAIT_OFF = ("hook_wait = 0: logins do not wait for their alert; an intruder's first command could stop it "
                 "(set hook_wait = 3 in [alert] to make the alert leave before the session starts).")
CONFIG_UNWRITABLE = "cannot write {path}: {reason}; check the directory's permissions and free space"
SUGGEST_INSTALL = ("Next: run ssh_alert.pyz install to add the login hooks and the every-minute cron fallback "
                   "(nothing alerts until then).")
SUGGEST_INSTALL_LEGACY = ("Next: run ssh_alert.pyz install now: it replaces the original script's hook in "
                          "~/.bash_profile and its cron line.")
LEGACY_PASSWORD_MOVED = "The plaintext password was removed from {path} (it is in the store now)."
LEGACY_PASSWORD_NOT_REMOVED = "warning: cannot remove the plaintext password from {path} ({reason}); delete that line"
LEGACY_PASSWORD_LEFT = "Note: {path} still holds a plaintext password that ssh_alert does not use; delete that line."
LEGACY_LOG_IMPORTED = ("Imported {total} login(s) from {log} into {ours}: {alerted} already alerted by the "
                       "original script, {pending} to alert now.")
LEGACY_LOG_SKIPPED = "Not importing {log}: {reason}."
LEGACY_STATE_UPDATED = ("Set {state} to {count} so the original script, until install replaces it, does not "
                        "alert those logins again.")


def with_store(config: Config, store: str) -> Config:
    assert config.smtp is not None
    return config._replace(smtp=config.smtp._replace(password_store=store))


def config_texts(paths: Paths, config: Config, password_stored: bool) -> Tuple[Optional[str], str]:
    """The config file's text now (None: no file) and with config's settings: an existing file is edited in
    place (app.settings.configedit), a new one rendered whole. Raises UserError when the file is unreadable."""
    from app.system.files import open_regular_file

    try:
        with open_regular_file(paths.config_file, "r", encoding="utf-8") as handle:
            old = handle.read()
    except FileNotFoundError:
        return None, render_config(config)
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(CONFIG_UNREADABLE.format(path=paths.config_file,
                                                 reason=getattr(error, "strerror", None) or error)) from None
    from app.settings.configedit import edited_text

    return old, edited_text(old, config, password_stored)


def diff_lines(old: Optional[str], new: str, paths: Paths) -> List[str]:
    """What setup changes in the config file, as a unified diff after one heading line; [] for no change."""
    from app.settings.inifile import diff

    if old == new:
        return []
    return [CONFIG_DIFF.format(path=paths.config_file)] + diff(old or "", new, str(paths.config_file))


def _write(paths: Paths, text: str, existed: bool) -> None:
    from app.system.files import replace_keeping_mode, write_private

    try:
        if existed:
            replace_keeping_mode(paths.config_file, text.encode("utf-8"))
        else:
            write_private(paths.config_file, text.encode("utf-8"))
    except OSError as error:
        raise UserError(CONFIG_UNWRITABLE.format(path=paths.config_file, reason=error.strerror or error)) from None


def apply(paths: Paths, plan: Plan, prompter: Optional[Prompter] = None, dry_run: bool = False) -> Result:
    """Store the password, write the config, migrate, send the test alert and run the first check.

    With a prompter (a terminal, no --yes), it asks whether the test email arrived. With dry_run, it only
    returns the diff the config file would get.
    """
    lines = list(plan.notes)
    config = plan.config
    stored = False
    old, new = config_texts(paths, config, plan.password is not None)  # UserError now, before any effect
    if dry_run:
        return Result(diff_lines(old, new, paths), ExitCode.OK, {"changes": diff_lines(old, new, paths)})
    smtp = config.smtp
    if smtp is not None and smtp.user:
        if plan.password is not None:
            from app.settings.credentials import store_password

            where = store_password(paths, smtp.user, plan.password, paths.config_file)
            config = with_store(config, where.store)
            lines.append(PASSWORD_STORED.format(description=where.description))
            stored = True
        elif smtp.password_command:
            lines.append(PASSWORD_COMMAND)
    old, new = config_texts(paths, config, stored)
    lines += diff_lines(old, new, paths) if old is not None else []  # a new file: nothing of the user's changes
    if prompter is not None:  # at a terminal the change shows before it is made
        say_all(prompter, lines)
        lines = []
    if old != new:
        _write(paths, new, old is not None)
        lines.append(CONFIG_WRITTEN.format(path=paths.config_file))
    else:
        lines.append(CONFIG_UNCHANGED.format(path=paths.config_file))
    wait = config.policy.hook_wait
    lines.append(HOOK_WAIT_CHOSEN.format(seconds=wait) if wait else HOOK_WAIT_OFF)
    from app.check.handoff import sync_hook_wait

    sync_hook_wait(paths.hook_wait_file, wait)
    lines += _migrate(paths, plan, stored)
    exit_code = ExitCode.OK
    if plan.send_test:
        if prompter is not None:
            say_all(prompter, lines)
            lines = []
        test_lines, delivered = test_email(paths, config, prompter)
        lines += test_lines
        exit_code = ExitCode.OK if delivered else ExitCode.NOT_DONE
    else:
        problem = local_only_problem(config)
        lines += [LOCAL_ONLY_WARNING.format(problem=problem)] if problem else []
    line, checked = first_check(paths)
    lines.append(line)
    if not checked:
        exit_code = ExitCode.NOT_DONE
    if not installed(paths):
        lines.append(SUGGEST_INSTALL_LEGACY if find_legacy(paths).found else SUGGEST_INSTALL)
    return Result(lines, exit_code)


def _migrate(paths: Paths, plan: Plan, stored: bool) -> List[str]:
    """Move the legacy password out of its file and import the legacy log; returns what was done."""
    from app.system.files import LockTimeout
    from app.install.legacy import import_log, log_import_blocker, read_log_import, remove_password

    lines = []
    legacy = plan.legacy
    if legacy.config is not None and plan.legacy_password:
        if not stored:
            lines.append(LEGACY_PASSWORD_LEFT.format(path=legacy.config))
        else:
            try:
                remove_password(legacy.config)
                lines.append(LEGACY_PASSWORD_MOVED.format(path=legacy.config))
            except (OSError, UnicodeDecodeError) as error:
                lines.append(LEGACY_PASSWORD_NOT_REMOVED.format(path=legacy.config,
                                                                reason=getattr(error, "strerror", None) or error))
    if legacy.log is None:
        return lines
    blocker = log_import_blocker(paths)
    if blocker:
        return lines + [LEGACY_LOG_SKIPPED.format(log=legacy.log, reason=blocker)]
    try:
        log_import = read_log_import(legacy, paths)
        if log_import.warning:
            lines.append(log_import.warning)
        if log_import.total == 0:
            return lines + [LEGACY_LOG_SKIPPED.format(log=legacy.log, reason="it holds no logins")]
        if not import_log(paths, log_import):
            return lines + [LEGACY_LOG_SKIPPED.format(log=legacy.log, reason=log_import_blocker(paths))]
    except (OSError, LockTimeout) as error:
        reason = getattr(error, "strerror", None) or "another check holds the lock"
        return lines + [LEGACY_LOG_SKIPPED.format(log=legacy.log, reason=reason)]
    lines.append(LEGACY_LOG_IMPORTED.format(total=log_import.total, log=legacy.log, ours=paths.login_log,
                                            alerted=log_import.total - log_import.pending,
                                            pending=log_import.pending))
    lines += _mark_legacy_alerted(paths, log_import.raw_lines)
    return lines


def _mark_legacy_alerted(paths: Paths, count: int) -> List[str]:
    """Tell the original script (still running until install) that every imported line is alerted."""
    from app.install.legacy import write_legacy_state

    try:
        write_legacy_state(paths.legacy_state, count)
    except OSError as error:
        return ["warning: cannot update {}: {}".format(paths.legacy_state, error.strerror or error)]
    return [LEGACY_STATE_UPDATED.format(state=paths.legacy_state, count=count)]

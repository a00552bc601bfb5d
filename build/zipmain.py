# -*- coding: utf-8 -*-
"""Entry module (__main__.py) of ssh_alert.pyz; build/build.py puts it in place of shiv's.

Before shiv's bootstrap unpacks the dependencies and imports them, fail in one line, without a
traceback, on a Python that is too old, when the unpack directory cannot be written, or when another
user could change what would be imported from it (like ssh's StrictModes: see _unsafe).
Keep this file parseable by Python 2.7 and 3.6: no f-strings, walrus, annotations or keyword-only args.
"""
import io
import os
import stat
import sys

# The texts of app/errors.py UNSAFE_OWNER, UNSAFE_PARENT_OWNER and UNSAFE_WRITABLE with USE_CODE (a test
# compares them): this file runs before app can be imported.
_USE = "run code from it"
_OWNER = ("%(path)s belongs to uid %(uid)d (%(owner)s), not to %(user)s; ssh_alert will not %(use)s: "
          "remove it, or have root run: chown %(user)s %(path)s")
_PARENT_OWNER = ("%(path)s belongs to uid %(uid)d (%(owner)s), not to %(user)s or root; ssh_alert will not "
                 "%(use)s: keep its files in directories you own")
_WRITABLE = "%(path)s is writable by %(who)s (mode %(mode)04o); ssh_alert will not %(use)s: run chmod go-w %(path)s"


def _fail(message):
    sys.stderr.write("ssh_alert: " + message + "\n")
    sys.exit(2)


def _check_python():
    if sys.version_info < (3, 8):
        version = ".".join(str(n) for n in sys.version_info[:3])
        sys.stderr.write("ssh_alert needs Python 3.8 or newer (this is %s)\n" % version)
        sys.exit(2)


def _shiv_root():
    """The directory shiv's bootstrap extracts into (same rules as _bootstrap.cache_path)."""
    root = os.environ.get("SHIV_ROOT") or "~/.shiv"
    if root.startswith("$"):
        root = os.environ.get(root[1:], root[1:])
    return os.path.abspath(os.path.expanduser(root))


_ENVIRONMENT = []  # read once: every check below needs it


def _environment():
    """shiv's build metadata (environment.json at the top of the zip), or None if unreadable."""
    if not _ENVIRONMENT:
        try:
            import json
            _ENVIRONMENT.append(json.loads(__loader__.get_data("environment.json").decode("utf-8")))
        except Exception:
            _ENVIRONMENT.append(None)
    return _ENVIRONMENT[0]


def _site_packages(root, env):
    """Where this build's dependencies are (or will be) unpacked, as shiv's cache_path computes it."""
    name = os.path.basename(os.path.realpath(sys.argv[0]))
    return os.path.join(root, "%s_%s" % (name, env["build_id"]), "site-packages")


def _extracted(root):
    """True when this build is already unpacked under root, so nothing needs writing."""
    env = _environment()
    try:
        return env is not None and os.path.isdir(_site_packages(root, env))
    except Exception:
        return False


def _preamble_code(preamble):
    """The preamble's code object, from the bytecode cached beside it (__pycache__, written on the first run as
    for any module) rather than compiled from source on every run (1 to 3 ms of every login)."""
    try:
        from importlib.machinery import SourceFileLoader  # loaded already: runpy imports it

        return SourceFileLoader("preamble", preamble).get_code("preamble")
    except Exception:  # e.g. an unreadable cache: compile it as shiv does
        with io.open(preamble, encoding="utf-8") as handle:  # no locale lookup
            return compile(handle.read(), preamble, "exec")


def _prepare_unpacked(root):
    """When this build is already unpacked, do what shiv's bootstrap does then, without its imports.

    shiv's bootstrap imports compileall, subprocess, zipfile, hashlib and more on every run (about
    25 ms); the login hook starts `check` on every login, so the common case takes this short path:
    put site-packages on sys.path as site.addsitedir does, run the preamble, return the entry point.
    Returns None when the short path does not apply.
    """
    env = _environment()
    if env is None or env.get("force_extract") or env.get("no_modify") or env.get("extend_pythonpath") \
            or env.get("prepend_pythonpath") or env.get("script") or not env.get("entry_point") \
            or os.environ.get("SHIV_FORCE_EXTRACT") or os.environ.get("SHIV_INTERPRETER"):
        return None
    site_packages = _site_packages(root, env)
    if not os.path.isdir(site_packages):
        return None
    import site
    length = len(sys.path)
    first_site = next((index for index, part in enumerate(sys.path)
                       if os.path.basename(part) in ("site-packages", "dist-packages")), length)
    site.addsitedir(site_packages)
    sys.path[:] = sys.path[:first_site] + sys.path[length:] + sys.path[first_site:length]
    if env.get("preamble"):
        preamble = os.path.join(site_packages, "bin", env["preamble"])
        code = _preamble_code(preamble)

        class Environment(object):
            build_id = env["build_id"]

        exec(code, {"__name__": "__main__", "__file__": preamble, "archive": sys.argv[0], "env": Environment,
                    "site_packages": site_packages})
    module_name, _, function_name = env["entry_point"].partition(":")
    return getattr(__import__(module_name, fromlist=[function_name]), function_name)


def _owned_writable(path):
    """True when the nearest existing ancestor of path is a directory we own and may write."""
    while not os.path.lexists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    try:
        return os.path.isdir(path) and os.stat(path).st_uid == os.getuid() and os.access(path, os.W_OK | os.X_OK)
    except OSError:
        return False


def _suggestion(root):
    """An alternative SHIV_ROOT that is likely to work here, or None."""
    home = os.path.expanduser("~")
    candidates = [os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache"), "shiv")]
    if os.environ.get("XDG_RUNTIME_DIR"):  # per-user tmpfs (systemd): lost at reboot, then unpacked again
        candidates.append(os.path.join(os.environ["XDG_RUNTIME_DIR"], "shiv"))
    for candidate in candidates:
        if candidate != root and os.path.isabs(candidate) and _owned_writable(candidate):
            return candidate
    return None


def _check_root():
    root = _shiv_root()
    if _extracted(root):
        return
    problem = None
    if os.path.exists(root) and not os.path.isdir(root):
        problem = "not a directory"
    elif not os.path.isdir(root):
        try:
            os.makedirs(root, 0o700)
        except OSError as e:
            if not os.path.isdir(root):  # else: created meanwhile by a concurrent run
                problem = e.strerror or str(e)
    if problem is None and not os.access(root, os.W_OK | os.X_OK):
        problem = "not writable"
    if problem is None:
        return
    hint = _suggestion(root)
    _fail("cannot unpack into %s (%s); set SHIV_ROOT to a writable directory you own%s"
          % (root, problem, ", e.g. SHIV_ROOT=%s" % hint if hint else ""))


def _user_name(uid):
    try:
        import pwd
        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return "no such user"


def _writers(mode):
    return " and ".join(who for who, bit in (("group", stat.S_IWGRP), ("others", stat.S_IWOTH)) if mode & bit)


def _chain(name):
    """name and every directory above it, as written and with symlinks resolved: (path, is name itself)."""
    seen = []
    for start in (name, os.path.realpath(name)):
        current, itself = start, True
        while True:
            if (current, itself) not in seen:
                seen.append((current, itself))
            parent = os.path.dirname(current)
            if parent == current:
                break
            current, itself = parent, False
    return seen


def _owner_text(path, owner, uid, parent):
    return (_PARENT_OWNER if parent else _OWNER) % {"path": path, "uid": owner, "owner": _user_name(owner),
                                                    "user": _user_name(uid), "use": _USE}


def _unsafe(path, uid):
    """Why another user could change path or a directory above it, or None (app.system.files.unsafe_reason's rules).

    path itself, when it exists, must belong to uid and not be writable by group or others; each directory
    above it, as written and with symlinks resolved, must belong to uid or root and be writable by group or
    others only when sticky (/tmp); a symlink on the way must belong to uid or root.
    """
    for current, itself in _chain(os.path.abspath(path)):
        try:
            status = os.lstat(current)
        except OSError:
            continue
        if stat.S_ISLNK(status.st_mode):  # where it leads is checked under its own name (the chain resolved)
            if status.st_uid not in (uid, 0):
                return _owner_text(current, status.st_uid, uid, True)
            continue
        if status.st_uid != uid if itself else status.st_uid not in (uid, 0):
            return _owner_text(current, status.st_uid, uid, not itself)
        if _writers(status.st_mode) and (itself or not status.st_mode & stat.S_ISVTX):
            return _WRITABLE % {"path": current, "who": _writers(status.st_mode),
                                "mode": stat.S_IMODE(status.st_mode), "use": _USE}
    return None


def _loose(path, uid):
    """True when path is a directory of ours that group or others may write (shiv unpacked under umask 002)."""
    try:
        status = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(status.st_mode) and status.st_uid == uid and bool(status.st_mode & 0o022)


def _discard(extraction, root):
    """Move a loose extraction of ours aside and delete it: what is in it cannot be trusted, and shiv unpacks
    this build afresh (privately: umask 077)."""
    aside = os.path.join(root, ".discarded-%d-%s" % (os.getpid(), os.path.basename(extraction)))
    os.rename(extraction, aside)
    import shutil
    shutil.rmtree(aside, ignore_errors=True)


def _check_private(root):
    """Refuse a SHIV_ROOT, or this build's extraction in it, that another user could change: its .pth
    files, the preamble and every module are run from there. Our own root left group- or world-writable
    is made private, and our own loose extraction is unpacked again, rather than refused: earlier
    releases unpacked under the user's umask."""
    uid = os.getuid()
    if _loose(root, uid):
        os.chmod(root, stat.S_IMODE(os.lstat(root).st_mode) & ~0o022)
    paths = [root]
    env = _environment()
    if env is not None and env.get("build_id"):
        site_packages = _site_packages(root, env)
        extraction = os.path.dirname(site_packages)
        if _unsafe(root, uid) is None and (_loose(extraction, uid) or _loose(site_packages, uid)):
            _discard(extraction, root)
        paths += [extraction, site_packages]
    for path in paths:
        problem = _unsafe(path, uid)
        if problem:
            _fail(problem)


_check_python()
os.umask(0o077)  # what shiv unpacks is private (cli.main sets the same umask for everything else)
try:
    _check_root()
except Exception:  # a bug in these checks must not stop the tool: the bootstrap reports real problems
    pass
try:
    _check_private(_shiv_root())
except Exception as error:  # but this check fails closed, in one line
    _fail("cannot check %s: %s" % (_shiv_root(), error))
try:
    _entry_point = _prepare_unpacked(_shiv_root())
except Exception:  # anything odd: shiv's own bootstrap below handles it
    _entry_point = None
if _entry_point is not None:
    sys.exit(_entry_point())

import _bootstrap  # noqa: E402  (shiv's runtime, at the top of the zip)

_bootstrap.bootstrap()

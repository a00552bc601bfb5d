# -*- coding: utf-8 -*-
"""Entry module (__main__.py) of ssh_alert.pyz; build/build.py puts it in place of shiv's.

Before shiv's bootstrap unpacks the dependencies and imports them, fail in one line, without a
traceback, on a Python that is too old or when the unpack directory cannot be written.
Keep this file parseable by Python 2.7 and 3.6: no f-strings, walrus, annotations or keyword-only args.
"""
import os
import sys


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


def _environment():
    """shiv's build metadata (environment.json at the top of the zip), or None if unreadable."""
    try:
        import json
        return json.loads(__loader__.get_data("environment.json").decode("utf-8"))
    except Exception:
        return None


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
        with open(preamble) as handle:
            code = compile(handle.read(), preamble, "exec")

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


_check_python()
try:
    _check_root()
except Exception:  # a bug in these checks must not stop the tool: the bootstrap reports real problems
    pass
try:
    _entry_point = _prepare_unpacked(_shiv_root())
except Exception:  # anything odd: shiv's own bootstrap below handles it
    _entry_point = None
if _entry_point is not None:
    sys.exit(_entry_point())

import _bootstrap  # noqa: E402  (shiv's runtime, at the top of the zip)

_bootstrap.bootstrap()

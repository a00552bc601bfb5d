"""shiv preamble of ssh_alert.pyz: remove stale extractions of other builds of this pyz.

shiv's bootstrap runs this (runpy) after unpacking and before the entry point, with the globals
`archive` (path of the pyz), `env` (shiv Environment) and `site_packages` (this build's
<root>/<pyzname>_<build_id>/site-packages). shiv never deletes old extractions (shiv issues #88, #188).

In <root>, only <pyzname>_<64 hex> directories of other build ids, their .tmp directories and their
.<pyzname>_<id>_lock files are removed, and only when no process uses them:
- shiv holds an exclusive flock on the _lock file while it unpacks: a locked one is skipped;
- every run of this pyz holds a shared flock on its own extraction directory until it exits (taken
  below): a directory still in use by a running older build is skipped;
- a directory another user owns is skipped (zipmain has refused a SHIV_ROOT others can change already).
Every error is ignored: this must never break the command (the login hook depends on it).
Costs one listdir of <root> when there is nothing to remove. Python 3.8 compatible.
"""
import fcntl
import os
import stat

HEX = frozenset("0123456789abcdef")


def _try_lock(path, flags):
    """Return an fd of path holding a non-blocking flock, or None if it is missing or busy."""
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except OSError:
        os.close(fd)
        return None


def _is_dir(path):
    """True for a directory (not a symlink to one) of our own: another user's is never removed."""
    try:
        status = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(status.st_mode) and status.st_uid == os.getuid()


def _remove(root, name):
    """Remove extraction `name` (<pyzname>_<id>) of another build, unless it is busy."""
    lock_path = os.path.join(root, ".%s_lock" % name)
    lock = _try_lock(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW)  # shiv's extraction lock
    if lock is None:
        return
    held = []
    try:
        paths = (os.path.join(root, name), os.path.join(root, name + ".tmp"))
        dirs = [p for p in paths if _is_dir(p)]  # a symlink or file of that name is left alone
        for path in dirs:
            fd = _try_lock(path, os.O_RDONLY)  # held (shared) by runs of that build
            if fd is None:
                return
            held.append(fd)
        for path in dirs:
            import shutil  # only when there is something to remove

            shutil.rmtree(path, ignore_errors=True)
        if not any(os.path.lexists(p) for p in paths):
            os.unlink(lock_path)
    finally:
        for fd in held + [lock]:
            os.close(fd)


def clean(site_packages, build_id):
    """Hold this build's extraction in use, then remove the stale ones beside it."""
    current = os.path.dirname(os.path.abspath(str(site_packages)))
    root, dirname = os.path.split(current)
    if not build_id or not dirname.endswith("_" + build_id):
        return
    fd = os.open(current, os.O_RDONLY)  # deliberately never closed: released when the process exits
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    prefix = dirname[:len(dirname) - len(build_id)]  # "<pyzname>_"
    stale = set()
    for entry in os.listdir(root):
        name = entry
        if name.startswith(".") and name.endswith("_lock"):
            name = name[1:-5]
        elif name.endswith(".tmp"):
            name = name[:-4]
        other = name[len(prefix):]
        if name.startswith(prefix) and len(other) == 64 and other != build_id and HEX.issuperset(other):
            stale.add(name)
    for name in sorted(stale):
        try:
            _remove(root, name)
        except OSError:
            pass


try:
    clean(site_packages, getattr(env, "build_id", None))  # noqa: F821 (globals given by shiv's bootstrap)
except Exception:
    pass

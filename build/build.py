#!/usr/bin/env python3
"""Build the pure-Python shiv zipapp described by shiv.toml (dist/ssh_alert.pyz).

Run it with the project venv's interpreter, which provides pip and shiv:
    .venv/bin/python build/build.py
"""
import ast
import hashlib
import io
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
PATH_KEYS = ("package", "output", "requirements", "preamble", "zipmain")
KEYS = PATH_KEYS + ("entry_point", "shebang", "reproducible", "compressed", "compress_level")
PIP_NOISE = re.compile(r"WARNING: Location '.*' is ignored: it is neither a file nor a directory")
NATIVE = re.compile(r"\.(pyd|dylib|dll|so(\.\d+)*)$", re.IGNORECASE)  # also libfoo.so.1.2


class BuildError(Exception):
    """A build failure, explained to the user in one line."""


def _run(args: List[str], cwd: Path) -> None:
    """Run a tool, passing on its stderr except pip's noise about configured index paths that do not exist."""
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          encoding="utf-8", errors="replace")
    sys.stderr.writelines(line for line in proc.stderr.splitlines(True) if not PIP_NOISE.match(line))
    if proc.returncode:
        raise BuildError("'%s' failed with exit status %d" % (" ".join(args[1:4]), proc.returncode))


def read_settings(path: Path = ROOT / "shiv.toml") -> Dict[str, Any]:
    """Return shiv.toml's [build] table, paths made absolute (relative to shiv.toml)."""
    try:
        with path.open("rb") as f:
            cfg = tomllib.load(f).get("build", {})
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise BuildError("cannot read %s: %s" % (path, e))
    missing = [k for k in KEYS if k not in cfg]
    if missing:
        raise BuildError("%s: [build] lacks %s" % (path, ", ".join(missing)))
    for key in PATH_KEYS:
        cfg[key] = (path.parent / cfg[key]).resolve()
    return cfg


def copy_docs(root: Path, target: Path) -> None:
    """docs/*.md and README.md into the package, so `ssh_alert.pyz help TOPIC` prints them without the repository."""
    pages = sorted((root / "docs").glob("*.md")) + [root / "README.md"]
    target.mkdir(exist_ok=True)
    for page in pages:
        if page.is_file():
            shutil.copyfile(page, target / ("readme.md" if page.name == "README.md" else page.name))


def stage(cfg: Dict[str, Any], site: Path) -> None:
    """Fill the empty dir `site` with the pinned wheels and the app package, normalised for reproducibility."""
    _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--require-hashes", "--only-binary=:all:",
          "--no-compile", "--target", str(site), "-r", str(cfg["requirements"])], cwd=site.parent)
    shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts with this venv's path in their shebang
    # What nothing reads at run time, to keep the pyz under 1 MB: pip's install records (only an uninstall reads
    # them; their hashes would also make the build path-dependent), type stubs and their markers, the packages'
    # own test suites and their long descriptions.
    for unused in [*site.glob("*.dist-info/RECORD"), *site.rglob("*.pyi"), *site.rglob("py.typed")]:
        unused.unlink()
    for suite in ("importlib_resources/tests", "keyring/testing"):  # the packages' own test suites
        shutil.rmtree(site / suite, ignore_errors=True)
    for metadata in site.glob("*.dist-info/METADATA"):  # the headers (name, version, requirements), without
        text = metadata.read_text(encoding="utf-8")  # the long description after them: the licences stay whole
        metadata.write_text(text.split("\n\n", 1)[0] + "\n", encoding="utf-8")
    for cache in list(site.rglob("__pycache__")):
        shutil.rmtree(cache)
    for pyc in site.rglob("*.py[co]"):
        pyc.unlink()
    pkg = cfg["package"]
    if not (pkg / "__init__.py").is_file():
        raise BuildError("%s is not a Python package (no __init__.py)" % pkg)
    shutil.copytree(pkg, site / pkg.name, ignore=shutil.ignore_patterns("__pycache__", "*.py[co]"))
    copy_docs(pkg.parent, site / pkg.name / "docs")
    module = site / cfg["entry_point"].partition(":")[0].replace(".", "/")
    if not (module.with_suffix(".py").is_file() or (module / "__init__.py").is_file()):
        raise BuildError("entry point %s: module not found in %s" % (cfg["entry_point"], pkg))
    for dirpath, _, files in os.walk(site):  # modes are stored in the zip: make them umask-independent
        os.chmod(dirpath, 0o755)
        for name in files:
            os.chmod(os.path.join(dirpath, name), 0o644)


def run_shiv(cfg: Dict[str, Any], site: Path, out: Path) -> None:
    """Run shiv on the staged site-packages (no pip args), writing the zipapp to `out`."""
    preamble = out.parent / cfg["preamble"].name  # shiv copies its mode bits: normalise them too
    shutil.copyfile(cfg["preamble"], preamble)
    os.chmod(preamble, 0o644)
    args = [sys.executable, "-m", "shiv", "--site-packages", str(site), "-e", cfg["entry_point"],
            "-o", str(out), "-p", cfg["shebang"], "--preamble", str(preamble),
            "--compressed" if cfg["compressed"] else "--uncompressed"]
    _run(args + (["--reproducible"] if cfg["reproducible"] else []), cwd=out.parent)


def _entries(data: bytes) -> Dict[str, Tuple[Any, ...]]:
    """Map each entry name of the zip `data` to what it holds: its date, compression method, CRC-32 and size."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {i.filename: (i.date_time, i.compress_type, i.CRC, i.file_size) for i in z.infolist()}


ENTRY_MODULE = """# -*- coding: utf-8 -*-
# ssh_alert.pyz's __main__.py, written by build/build.py: build/zipmain.py's text, compiled by the exec below.
# zipimport compiles a module from the zip's source twice on every run (to find it, then to load it), and this
# one runs at every login: a string constant is next to free to compile, so zipmain is compiled only once.
_ZIPMAIN = {source}
exec(compile(_ZIPMAIN, "build/zipmain.py", "exec"))
"""


def entry_module(zipmain: str) -> bytes:
    """Takes build/zipmain.py's text; returns the __main__.py that runs it (pure). Raises SyntaxError."""
    ast.parse(zipmain, feature_version=(3, 6))  # best effort: the entry module must parse on old Pythons
    return ENTRY_MODULE.format(source=repr(zipmain)).encode("utf-8")


def replace_main(src: Path, dst: Path, main_py: bytes, level: int) -> None:
    """Write `src` to `dst` (atomically, mode 0755) with __main__.py replaced by `main_py`, compressed entries
    compressed again at zlib's `level` (shiv uses zlib's default, 6).

    The shebang prefix, entry order and every other entry's content and ZipInfo stay as shiv wrote them,
    except for shiv's own _bootstrap/* files, which shiv adds in directory-listing order and with the
    modes of its installed copy (filesystem- and umask-dependent): sort them by name and give them 0644.
    They are never extracted, so only reproducibility across machines changes.
    """
    ast.parse(main_py, feature_version=(3, 6))  # best effort: the entry module must parse on old Pythons
    old = src.read_bytes()
    with zipfile.ZipFile(src) as zin:
        infos = zin.infolist()
        boot = iter(sorted((i for i in infos if i.filename.startswith("_bootstrap/")), key=lambda i: i.filename))
        infos = [next(boot) if i.filename.startswith("_bootstrap/") else i for i in infos]
        if "__main__.py" not in zin.namelist():
            raise BuildError("%s has no __main__.py" % src)
        fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix="." + dst.name + ".")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(old[:min(i.header_offset for i in infos)])  # "#!/usr/bin/env python3\n"
                with zipfile.ZipFile(f, "w") as zout:
                    for i in infos:
                        info = zipfile.ZipInfo(i.filename, date_time=i.date_time)
                        info.compress_type, info.external_attr = i.compress_type, i.external_attr
                        if i.filename.startswith("_bootstrap/"):
                            info.external_attr = (stat.S_IFREG | 0o644) << 16
                        zout.writestr(info, main_py if i.filename == "__main__.py" else zin.read(i),
                                      compresslevel=level)
            before, after = _entries(old), _entries(Path(tmp).read_bytes())
            del before["__main__.py"], after["__main__.py"]
            if before != after:
                raise BuildError("rewriting __main__.py changed other entries of the zip")
            os.chmod(tmp, 0o755)
            os.replace(tmp, dst)
        except BaseException:
            os.unlink(tmp)
            raise


def check_pure(pyz: Path) -> None:
    """Fail if the zipapp contains compiled extensions, which would tie it to one platform and Python."""
    with zipfile.ZipFile(pyz) as z:
        native = [n for n in z.namelist() if NATIVE.search(n)]
    if native:
        raise BuildError("the pyz must be pure Python, but contains %d compiled file(s): %s"
                         % (len(native), ", ".join(native[:5])))


BUILD_LOCK = ROOT / "requirements-build.lock"
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)")


def check_build_tools(lock: Path = BUILD_LOCK) -> None:
    """Fail unless the installed build tools (shiv, whose bootstrap ships in the pyz, and what it runs) are the
    versions requirements-build.lock pins by hash: another shiv or pip could build another pyz."""
    from importlib import metadata

    try:
        pins = [PIN.match(line) for line in lock.read_text(encoding="utf-8").splitlines()]
    except OSError as e:
        raise BuildError("cannot read %s: %s" % (lock, e))
    wrong = []
    for pin in filter(None, pins):
        try:
            installed = metadata.version(pin.group(1))
        except metadata.PackageNotFoundError:
            installed = "missing"
        if installed != pin.group(2):
            wrong.append("%s %s (pinned %s)" % (pin.group(1), installed, pin.group(2)))
    if wrong:
        raise BuildError("build tools differ from %s: %s; run: make venv" % (lock.name, ", ".join(wrong)))


def main(argv: List[str] = sys.argv[1:]) -> int:
    """Build, then print one line: output path, size and sha256. With --verify SHA256: build into a temporary
    file instead, compare its sha256 with the one given and say whether they match (exit 1 when not)."""
    expected = None
    if argv[:1] == ["--verify"]:
        expected = (argv[1] if len(argv) > 1 else "").strip().lower().split(":")[-1]
        if not re.fullmatch(r"[0-9a-f]{64}", expected):
            print("build.py: error: --verify needs the pyz's sha256 (64 hex digits): make verify SHA256=...",
                  file=sys.stderr)
            return 2
    try:
        check_build_tools()
        cfg = read_settings()
        out = cfg["output"]
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="ssh_alert-build-") as tmp:
            if expected is not None:
                out = Path(tmp, "verify", out.name)
                out.parent.mkdir()
            site = Path(tmp, "site-packages")
            site.mkdir()
            stage(cfg, site)
            shiv_out = Path(tmp, out.name)
            run_shiv(cfg, site, shiv_out)
            check_pure(shiv_out)
            replace_main(shiv_out, out, entry_module(cfg["zipmain"].read_text(encoding="utf-8")), cfg["compress_level"])
            if expected is not None:
                return _verdict(out.read_bytes(), expected)
    except (BuildError, OSError, SyntaxError, zipfile.BadZipFile) as e:
        print("build.py: error: %s" % e, file=sys.stderr)
        return 1
    data = out.read_bytes()
    shown = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    print("%s %d bytes sha256:%s" % (shown, len(data), hashlib.sha256(data).hexdigest()))
    return 0


def _verdict(data: bytes, expected: str) -> int:
    """Say whether the rebuilt pyz is byte for byte the one whose sha256 was given; 0 when it is."""
    digest = hashlib.sha256(data).hexdigest()
    if digest == expected:
        print("verified: this tree rebuilds the pyz with sha256:%s byte for byte" % digest)
        return 0
    print("MISMATCH: this tree builds sha256:%s, not sha256:%s: the pyz was not built from this tree with "
          "these pinned tools" % (digest, expected))
    return 1


if __name__ == "__main__":
    sys.exit(main())

"""app.system.lazy and app.system.sha: the login path's smtplib and SHA-256 without OpenSSL, each in a fresh
interpreter (this process has ssl and hashlib loaded already), on every supported Python that is installed."""

import hashlib
from pathlib import Path
from typing import Dict

import pytest

from app.system.sha import sha256
from helpers import SUPPORTED, pyenv_pythons, require, run_fresh

OPENSSL = ("ssl", "_ssl", "hmac", "hashlib", "_hashlib")


@pytest.fixture(scope="module")
def pythons() -> Dict[str, Path]:
    return pyenv_pythons()


def loaded(names=OPENSSL) -> str:
    return "print(sorted(name for name in {!r} if name in sys.modules))\n".format(names)


@pytest.fixture(params=SUPPORTED)
def interpreter(request: pytest.FixtureRequest, pythons: Dict[str, Path]) -> str:
    """Each supported Python (pyenv) in turn."""
    require(request.param in pythons, "Python {} (pyenv) is not installed".format(request.param))
    return str(pythons[request.param])


def test_smtplib_imported_deferring_ssl_and_hmac_loads_neither_until_tls_or_cram_md5_uses_them(interpreter: str):
    output = run_fresh(
        "import sys\n"
        "from app.system.lazy import import_deferring\n"
        "import_deferring('smtplib', ('ssl', 'hmac'))\n"
        "import smtplib\n" + loaded() +  # and no stand-in is left behind in sys.modules
        "print(smtplib.hmac.HMAC(b'key', b'challenge', 'md5').hexdigest())\n"  # what CRAM-MD5 computes
        "import ssl\n"
        "print(type(sys.modules['ssl']).__name__, isinstance(ssl.create_default_context(), ssl.SSLContext))\n"
        "print(hasattr(smtplib, 'SMTP_SSL'), smtplib.ssl.SSLContext is ssl.SSLContext)\n", interpreter)
    import hmac

    assert output.splitlines() == ["[]", hmac.HMAC(b"key", b"challenge", "md5").hexdigest(), "module True",
                                   "True True"]


def test_a_function_imported_from_a_deferred_module_imports_it_when_first_called(interpreter: str):
    output = run_fresh(
        "import sys\n"
        "import app\n"  # its __init__ imports pathlib deferring urllib.parse
        "print('urllib.parse' in sys.modules)\n"
        "from pathlib import Path\n"
        "print(Path('/tmp/a b').as_uri())\n"
        "import urllib.parse\n"
        "print(type(sys.modules['urllib.parse']).__name__, urllib.parse.quote('a b'))\n", interpreter)
    assert output.splitlines() == ["False", "file:///tmp/a%20b", "module a%20b"]


def test_with_another_thread_running_the_import_is_a_plain_one():
    output = run_fresh(
        "import sys, threading\n"
        "from app.system.lazy import import_deferring\n"
        "stop = threading.Event()\n"
        "threading.Thread(target=stop.wait, daemon=True).start()\n"
        "import_deferring('smtplib', ('ssl', 'hmac'))\n" + loaded(("ssl", "hmac")) + "stop.set()\n")
    assert output.splitlines() == ["['hmac', 'ssl']"]


def test_a_module_imported_already_is_left_as_it_is():
    output = run_fresh(
        "import sys, ssl\n"
        "from app.system.lazy import import_deferring\n"
        "import_deferring('smtplib', ('ssl', 'hmac'))\n"
        "import smtplib\n"
        "print(smtplib.ssl is ssl, 'hmac' in sys.modules)\n")
    assert output.splitlines() == ["True False"]


def test_a_missing_module_gets_no_stand_in():
    output = run_fresh(
        "import sys\n"
        "from app.system.lazy import import_deferring\n"
        "import_deferring('json', ('no_such_module_here',))\n"
        "print('json' in sys.modules, 'no_such_module_here' in sys.modules)\n")
    assert output.splitlines() == ["True False"]


@pytest.mark.parametrize("data", [b"", b"abc", bytes(range(256)) * 3])
def test_sha256_gives_hashlib_s_digests(data: bytes):
    assert sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()
    assert sha256(data).digest() == hashlib.sha256(data).digest()


def test_sha256_loads_no_openssl():
    output = run_fresh("import sys\nfrom app.system.sha import sha256\nsha256(b'x').hexdigest()\n" + loaded())
    assert output.splitlines() == ["[]"]


def test_a_deferred_submodule_is_its_packages_attribute_until_the_real_one_loads_on_first_use():
    output = run_fresh(
        "import sys\n"
        "from app.system.lazy import import_deferring\n"
        "import_deferring('smtplib', ('email.utils', 'email.message', 'email.generator'))\n"
        "import smtplib\n"
        "print(sorted(name for name in ('email.utils', 'email.message', 'email.generator') if name in sys.modules))\n"
        "print(smtplib.quoteaddr('Bob <bob@example.com>'))\n"  # email.utils.parseaddr, loaded now
        "import email.utils\n"
        "print(type(sys.modules['email.utils']).__name__, sys.modules['email'].utils is sys.modules['email.utils'])\n"
        "from email.message import EmailMessage\n"
        "print(smtplib.email.message.EmailMessage is EmailMessage)\n")
    assert output.splitlines() == ["[]", "<bob@example.com>", "module True", "True"]

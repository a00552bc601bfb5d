"""app.system.record.Record: what typing.NamedTuple gives a class body, built without typing."""

import copy
import pickle
from typing import NamedTuple, Optional

import pytest

from app.system.record import Record
from helpers import SUPPORTED, pyenv_pythons, require, run_fresh


class Login(Record):
    """A login as a record."""

    ip: str
    port: int = 22
    key: Optional[str] = None

    def where(self) -> str:
        return "{}:{}".format(self.ip, self.port)


class LoginTuple(NamedTuple):
    """The same declaration as typing builds it."""

    ip: str
    port: int = 22
    key: Optional[str] = None


def test_a_record_is_built_like_the_named_tuple_of_the_same_body() -> None:
    for build in (Login, LoginTuple):
        login = build("203.0.113.7")
        assert tuple(login) == ("203.0.113.7", 22, None)
        assert (login.ip, login.port, login.key, login[1]) == ("203.0.113.7", 22, None, 22)
        assert build("203.0.113.7", key="SHA256:x") == ("203.0.113.7", 22, "SHA256:x")
        assert build(port=2222, ip="::1") == ("::1", 2222, None)
        assert build._fields == ("ip", "port", "key")
        assert build._field_defaults == {"port": 22, "key": None}
        assert build.__doc__ in ("A login as a record.", "The same declaration as typing builds it.")
    assert repr(Login("203.0.113.7")) == repr(LoginTuple("203.0.113.7")).replace("LoginTuple", "Login")


def test_replace_asdict_and_make_give_what_a_named_tuple_gives() -> None:
    login = Login("203.0.113.7", 2222)
    assert login._replace(key="k") == Login("203.0.113.7", 2222, "k")
    assert type(login._replace(key="k")) is Login
    assert login._asdict() == {"ip": "203.0.113.7", "port": 2222, "key": None}
    assert Login._make(["::1", 1, "k"]) == Login("::1", 1, "k")
    assert login.where() == "203.0.113.7:2222"


def test_a_record_compares_hashes_copies_and_pickles_as_its_tuple() -> None:
    login = Login("203.0.113.7")
    assert login == ("203.0.113.7", 22, None) and hash(login) == hash(("203.0.113.7", 22, None))
    assert copy.copy(login) == login and copy.deepcopy(login) == login
    restored = pickle.loads(pickle.dumps(login))
    assert restored == login and type(restored) is Login
    ip, port, key = login
    assert (ip, port, key) == login


def test_a_record_is_immutable_and_has_no_other_attributes() -> None:
    login = Login("203.0.113.7")
    with pytest.raises(AttributeError):
        login.ip = "::1"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        login.other = 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("call, words", [
    (lambda: Login(), ["Login()", "missing", "'ip'"]),
    (lambda: Login("a", 1, "k", "extra"), ["Login()", "takes", "were given"]),
    (lambda: Login("a", ip="b"), ["Login()", "multiple values", "'ip'"]),
    (lambda: Login("a", user="b"), ["Login()", "unexpected keyword argument", "'user'"]),
    (lambda: Login._make(["a"]), ["Expected 3 arguments, got 1"]),
])
def test_a_wrong_call_raises_type_error_naming_the_class_and_the_argument(call, words) -> None:
    with pytest.raises(TypeError) as raised:
        call()
    assert all(word in str(raised.value) for word in words), raised.value


def test_a_class_that_makes_many_records_gets_a_compiled_new_that_builds_the_same_records() -> None:
    class Busy(Record):
        ip: str
        port: int = 22
        key: Optional[str] = None

    first = [Busy("203.0.113.7"), Busy("::1", 2222), Busy(ip="a", key="k"), Busy("b", key="k")]
    generic = Busy.__new__
    for number in range(1000):
        Busy(str(number))
    assert Busy.__new__ is not generic  # compiled by now
    assert [Busy("203.0.113.7"), Busy("::1", 2222), Busy(ip="a", key="k"), Busy("b", key="k")] == first
    assert type(Busy("c")) is Busy and Busy("c")._replace(port=1) == ("c", 1, None)
    for call, words in [(lambda: Busy(), ["Busy()", "missing", "'ip'"]),
                        (lambda: Busy("a", user="b"), ["Busy()", "unexpected keyword argument", "'user'"])]:
        with pytest.raises(TypeError) as raised:
            call()
        assert all(word in str(raised.value) for word in words), raised.value


def test_a_record_without_fields_takes_no_arguments() -> None:
    class Nothing(Record):
        """No field."""

    assert Nothing() == () and repr(Nothing()) == "Nothing()"
    with pytest.raises(TypeError):
        Nothing(1)  # type: ignore[call-arg]


def test_replace_with_an_unknown_field_raises_value_error() -> None:
    with pytest.raises(ValueError, match="Got unexpected field names: \\['user'\\]"):
        Login("a")._replace(user="b")


def test_a_field_without_a_default_after_one_with_a_default_is_refused_at_the_class() -> None:
    with pytest.raises(TypeError, match="Broken: a field without a default follows one with a default"):
        class Broken(Record):
            port: int = 22
            ip: str


@pytest.mark.parametrize("version", SUPPORTED)
def test_records_build_without_importing_typing_on_every_supported_python(version: str) -> None:
    pythons = pyenv_pythons()
    require(version in pythons, "Python {} (pyenv) is not installed".format(version))
    output = run_fresh(
        "from __future__ import annotations\n"
        "import sys\n"
        "from app.system.record import Record\n"
        "class Login(Record):\n"
        "    ip: str\n"
        "    port: int = 22\n"
        "print(Login('::1'), 'typing' in sys.modules)\n", str(pythons[version]))
    assert output.splitlines() == ["Login(ip='::1', port=22) False"]

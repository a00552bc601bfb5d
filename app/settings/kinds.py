"""The value types of configuration keys: how a key's text is read (and validated) and written back.

Each kind's ``parse`` takes the key's text, stripped and not empty, and returns the value or raises
Invalid with one problem per bad part (the words after ``[section] key:`` in CONFIG_PROBLEM); ``write``
turns a value back into INI text that ``parse`` reads as the same value. A Key is one configuration key:
its place, its kind, its default and its help.
"""

from __future__ import annotations

import configparser
from app.system.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional, Tuple, TypeAlias, Union

BOOLEAN_STATES = configparser.ConfigParser.BOOLEAN_STATES  # yes/no, true/false, on/off, 1/0
# What a push channel's key holds once parsed (Text, Choice: str; Number: int or None; Flag: bool).
OptionValue: TypeAlias = "Union[str, int, None]"


class Invalid(ValueError):
    """A value that cannot be used; problems: one phrase per bad part, each its own line."""

    def __init__(self, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def looks_like_address(address: str) -> bool:
    """A cheap sanity check for check's path; setup validates properly with email-validator."""
    local, _, domain = address.rpartition("@")
    return bool(local and domain) and not any(character.isspace() or ord(character) < 32 for character in address)


def split_addresses(value: str) -> Tuple[str, ...]:
    """Split a comma-separated address list, dropping blanks."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


class Kind:
    """Plain text, taken as written. Subclasses validate and convert."""

    python_type: object = str  # the type of the values parse returns (the generated records' annotations)
    empty: object = ""  # the value of a key that is absent, empty and has no default

    def parse(self, text: str) -> Any:
        """Takes the stripped, non-empty text; returns the value; raises Invalid."""
        return text

    def default(self, text: str) -> Any:
        """Takes a key's default text; returns its value, as parse does but unchecked where checking costs (the
        tests parse every default)."""
        return self.parse(text)

    def write(self, value: Any) -> str:
        """Takes a value parse returned; returns its INI text."""
        return str(value)

    def describe(self) -> str:
        """Returns the accepted values for the README table ("" when the help text says it)."""
        return ""


class Text(Kind):
    """Text, optionally checked, then normalized: check(text) returns the problems (none: valid)."""

    def __init__(self, check: Optional[Callable[[str], Tuple[str, ...]]] = None,
                 normalize: Optional[Callable[[str], str]] = None) -> None:
        self.check = check
        self.normalize = normalize

    def parse(self, text: str) -> str:
        problems = self.check(text) if self.check else ()
        if problems:
            raise Invalid(*problems)
        return self.normalize(text) if self.normalize else text

    def default(self, text: str) -> str:
        return self.normalize(text) if self.normalize else text  # geoip_mirror's URL check imports urllib.parse


class Choice(Kind):
    """One of a fixed set of words, case-insensitive."""

    def __init__(self, *options: str) -> None:
        self.options = options

    def parse(self, text: str) -> str:
        value = text.lower()
        if value not in self.options:
            raise Invalid("{!r} is not one of: {}".format(value, ", ".join(self.options)))
        return value

    def describe(self) -> str:
        return " or ".join(self.options) if len(self.options) == 2 else ", ".join(self.options)


class Flag(Kind):
    """A yes/no switch, spelled as configparser accepts (yes, true, on, 1 / no, false, off, 0)."""

    python_type = bool
    empty = None

    def parse(self, text: str) -> bool:
        value = text.lower()
        if value not in BOOLEAN_STATES:
            raise Invalid("{!r} is not yes or no".format(value))
        return BOOLEAN_STATES[value]

    def write(self, value: Any) -> str:
        return "yes" if value else "no"

    def describe(self) -> str:
        return "yes or no"


class Number(Kind):
    """A number from low to high; integer or float. message: the problem, with {text}, {low} and {high}."""

    empty = None

    def __init__(self, low: float, high: float, integer: bool = True,
                 message: str = "{text!r} is not a number from {low:g} to {high:g}") -> None:
        self.low, self.high, self.integer, self.message = low, high, integer, message
        self.python_type = int if integer else float

    def parse(self, text: str) -> Any:
        try:
            value = int(text) if self.integer else float(text)
        except ValueError:
            value = None
        if value is None or not self.low <= value <= self.high:  # NaN fails the comparison too
            raise Invalid(self.message.format(text=text, low=self.low, high=self.high))
        return value

    def write(self, value: Any) -> str:
        return str(value) if self.integer else "{:g}".format(value)

    def describe(self) -> str:
        return "{:g}-{:g}".format(self.low, self.high)


class Address(Kind):
    """One email address."""

    def parse(self, text: str) -> str:
        if not looks_like_address(text):
            raise Invalid("{!r} is not an email address".format(text))
        return text


class Addresses(Kind):
    """Comma-separated email addresses, each checked."""

    python_type = "Tuple[str, ...]"
    empty = ()

    def parse(self, text: str) -> Tuple[str, ...]:
        addresses = split_addresses(text)
        bad = ["{!r} is not an email address".format(address) for address in addresses
               if not looks_like_address(address)]
        if bad:
            raise Invalid(*bad)
        return addresses

    def write(self, value: Any) -> str:
        return ", ".join(value)


class Words(Kind):
    """A comma-separated list of words from a fixed set, in the order written, each once."""

    python_type = "Tuple[str, ...]"
    empty = ()

    def __init__(self, *options: str) -> None:
        self.options = options

    def parse(self, text: str) -> Tuple[str, ...]:
        words = tuple(dict.fromkeys(word.lower() for word in split_addresses(text)))
        bad = ["{!r} is not one of: {}".format(word, ", ".join(self.options)) for word in words
               if word not in self.options]
        if bad:
            raise Invalid(*bad)
        return words

    def write(self, value: Any) -> str:
        return ", ".join(value)

    def describe(self) -> str:
        return "comma-separated: " + ", ".join(self.options)


class Key(Record):
    """One configuration key."""

    section: str
    name: str
    field: str  # where the value lands ("" when only a rule in config.py reads it)
    kind: Kind  # reads, validates and writes the value
    default: str  # the INI text used when the key is absent or empty ("": none, or computed)
    help: str  # the README table's meaning, after the accepted values
    default_help: str = ""  # the README table's default when something else computes it
    required: str = ""  # the problem when the value is missing
    legacy: bool = False  # the original script's spelling: read, never written
    secret: bool = False  # never written
    raw: bool = False  # read whole: a ; or # in it does not start a comment

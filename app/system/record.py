"""Record: the base of every record class in app/, a typing.NamedTuple to the type checker.

A class body declares its fields once, with annotations and trailing defaults, as for typing.NamedTuple. The
interpreter builds it as a tuple subclass without importing typing and without compiling a ``__new__`` per
class (collections.namedtuple does both): 40 records on the login path cost about 5 ms that way, this way
well under 1.
"""

from __future__ import annotations

from operator import itemgetter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple as Record
else:
    try:
        from _collections import _tuplegetter  # the C field accessor collections.namedtuple uses
    except ImportError:  # another interpreter: a property does the same, a little slower
        def _tuplegetter(index, doc):
            return property(itemgetter(index), doc=doc)

    def _filled(cls, values, named):
        """values followed by named ones and the defaults, in field order; raises TypeError as a call would."""
        fields = cls._fields
        if len(values) > len(fields):
            raise TypeError("{}() takes {} arguments but {} were given".format(cls.__name__, len(fields),
                                                                               len(values)))
        result = list(values)
        for field in fields[len(values):]:
            if field in named:
                result.append(named.pop(field))
            elif field in cls._field_defaults:
                result.append(cls._field_defaults[field])
            else:
                raise TypeError("{}() missing required argument: '{}'".format(cls.__name__, field))
        if named:
            unexpected = next(iter(named))
            repeated = unexpected in fields
            raise TypeError("{}() got {} argument '{}'".format(
                cls.__name__, "multiple values for" if repeated else "an unexpected keyword", unexpected))
        return result

    class _RecordType(type):
        """Turns a class body's annotated names into the tuple's fields."""

        def __new__(mcs, name, bases, namespace):
            if namespace.get("_root"):
                return super().__new__(mcs, name, bases, namespace)
            fields = tuple(namespace.get("__annotations__", ()))
            defaults = {field: namespace.pop(field) for field in fields if field in namespace}
            if list(defaults) != list(fields[len(fields) - len(defaults):]):
                raise TypeError("{}: a field without a default follows one with a default".format(name))
            for index, field in enumerate(fields):
                namespace[field] = _tuplegetter(index, None)
            namespace.update(__slots__=(), _fields=fields, _field_defaults=defaults, __match_args__=fields)
            return super().__new__(mcs, name, bases, namespace)

    class Record(tuple, metaclass=_RecordType):
        """A named tuple: fields by position or name, _replace, _asdict, _make, a repr naming each field."""

        _root = True
        __slots__ = ()
        _fields = ()
        _field_defaults = {}

        def __new__(cls, *values, **named):
            if named or len(values) != len(cls._fields):
                values = _filled(cls, values, named)
            return tuple.__new__(cls, values)

        @classmethod
        def _make(cls, iterable):
            values = tuple(iterable)
            if len(values) != len(cls._fields):
                raise TypeError("Expected {} arguments, got {}".format(len(cls._fields), len(values)))
            return tuple.__new__(cls, values)

        def _replace(self, **changes):
            values = [changes.pop(field, value) for field, value in zip(self._fields, self)]
            if changes:
                raise ValueError("Got unexpected field names: {!r}".format(list(changes)))
            return tuple.__new__(type(self), values)

        def _asdict(self):
            return dict(zip(self._fields, self))

        def __repr__(self):
            return "{}({})".format(type(self).__name__, ", ".join(
                "{}={!r}".format(field, value) for field, value in zip(self._fields, self)))

        def __getnewargs__(self):
            return tuple(self)

__all__ = ["Record"]

"""Record: the base of every record class in app/, a typing.NamedTuple to the type checker.

A class body declares its fields once, with annotations and trailing defaults, as for typing.NamedTuple. The
interpreter builds it as a tuple subclass without importing typing and without compiling a ``__new__`` per
class at import (collections.namedtuple does both): 40 record classes on the login path cost about 5 ms that
way, well under 1 ms this way. A class that makes many records (a backlog of thousands of logins) gets its
compiled ``__new__`` then.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple as Record
else:
    try:
        from _collections import _tuplegetter  # the C field accessor collections.namedtuple uses
    except ImportError:  # another interpreter: a property does the same, a little slower
        from operator import itemgetter

        def _tuplegetter(index, doc):
            return property(itemgetter(index), doc=doc)

    def _filled(cls, values, named):
        """values followed by named ones and the defaults, in field order; raises TypeError as a call would."""
        fields = cls._fields
        if len(values) > len(fields):
            raise TypeError("{}() takes {} arguments but {} were given".format(cls.__name__, len(fields),
                                                                               len(values)))
        defaults = cls._field_defaults
        try:
            values += tuple([named.pop(field) if field in named else defaults[field]
                             for field in fields[len(values):]])
        except KeyError as missing:
            raise TypeError("{}() missing required argument: {}".format(cls.__name__, missing)) from None
        if named:
            unexpected = next(iter(named))
            raise TypeError("{}() got {} argument '{}'".format(
                cls.__name__, "multiple values for" if unexpected in fields else "an unexpected keyword",
                unexpected))
        return values

    _COMPILE_AFTER = 256  # records of one class before it gets a compiled __new__ (a backlog makes thousands)
    _made = {}  # class: records made through the generic __new__

    def _compiled_new(cls):
        """cls's own __new__, compiled as collections.namedtuple compiles one for every class at import (about
        0.1 ms each); made only for a class that makes many records. The names compiled are cls's fields."""
        arguments = ", ".join(cls._fields)
        new = eval("lambda _cls, {0}: _tuple_new(_cls, ({0},))".format(arguments),
                   {"_tuple_new": tuple.__new__, "__builtins__": {}})
        new.__defaults__ = cls._default_values or None
        # a wrong call names the class: "Login() missing 1 required positional argument: 'ip'" (Python 3.10 on
        # names the function's qualified name, older ones its code's name)
        new.__code__ = new.__code__.replace(co_name=cls.__name__)
        new.__name__ = new.__qualname__ = cls.__name__
        return staticmethod(new)

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
            namespace.update(__slots__=(), _fields=fields, _field_defaults=defaults, __match_args__=fields,
                             _required=len(fields) - len(defaults), _default_values=tuple(defaults.values()))
            return super().__new__(mcs, name, bases, namespace)

    class Record(tuple, metaclass=_RecordType):
        """A named tuple: fields by position or name, _replace, _asdict, _make, a repr naming each field."""

        _root = True
        __slots__ = ()
        _fields = ()
        _field_defaults = {}
        _required = 0
        _default_values = ()

        def __new__(cls, *values, **named):
            made = _made[cls] = _made.get(cls, 0) + 1
            if made == _COMPILE_AFTER and cls._fields:
                cls.__new__ = _compiled_new(cls)  # later records of cls: as fast as a namedtuple's
            if not named:
                given = len(values)
                if given == len(cls._fields):
                    return tuple.__new__(cls, values)
                if cls._required <= given < len(cls._fields):  # the rest from the defaults
                    return tuple.__new__(cls, values + cls._default_values[given - cls._required:])
            return tuple.__new__(cls, _filled(cls, values, named))

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

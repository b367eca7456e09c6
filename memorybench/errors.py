"""The one exception a user can cause (the CLI prints its message as one line and exits 2),
and the type check behind many of those messages."""

import math


class UserError(Exception):
    """Bad input from the user (a name, a length, a file): what is wrong, what is expected."""


class UserTypeError(UserError, TypeError):
    """Bad input of the wrong kind (an object that is not a model): a ``TypeError`` from the
    Python API, one line and exit 2 on the command line."""


def printable(value: object) -> str:
    """Text safe to print on a terminal: control characters (an escape sequence in a
    stored model name) shown as Python escapes, not sent raw."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def is_integer(value: object) -> bool:
    """An int, and not a bool (which Python counts as one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def expected_type(default: object, value: object) -> str | None:
    """None when ``value`` may stand where ``default`` does (true/false for a bool, an
    integer for an int, any number but a bool for a float, text for a string); else what
    is expected, for the error. Defaults of other kinds accept anything."""
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(default, int):
        return None if is_integer(value) else "an integer"
    if isinstance(default, float):
        ok = is_integer(value) or (isinstance(value, float) and math.isfinite(value))
        return None if ok else "a finite number"
    if isinstance(default, str):
        return None if isinstance(value, str) else "a string"
    return None

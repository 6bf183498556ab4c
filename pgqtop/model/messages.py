"""How text reaches a person: one line for any exception, no password in it, and nothing in
it that a terminal would act on."""

from __future__ import annotations

import re

import psycopg.conninfo

_UNPRINTABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f"  # C0 controls (newline, tab, ESC, BEL, ...), DEL, C1 controls
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidirectional marks and overrides
    "\u2028\u2029"  # line and paragraph separators
    "\ud800-\udfff]"  # lone surrogates: bytes of a command line that were not UTF-8
)


def _escaped(match: re.Match[str]) -> str:
    return repr(match.group())[1:-1]


def printable(text: str) -> str:
    """Text as it may be written to a terminal: control characters, bidi overrides and lone
    surrogates appear escaped (`\\x1b`, `\\n`, `\\u202e`) rather than act, so a name from
    the database cannot clear the screen, retitle the window, reorder a line or print a fake
    row. Anything else, any script or emoji, is left as it is."""
    if _UNPRINTABLE.search(text) is None:
        return text
    return _UNPRINTABLE.sub(_escaped, text)


_URL_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")
_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)\S+")


def redact(text: str, dsn: str) -> str:
    """Remove a DSN's password from a message before it is shown or logged."""
    try:
        password = psycopg.conninfo.conninfo_to_dict(dsn).get("password")
    except psycopg.ProgrammingError:
        password = None
    if password:
        text = text.replace(str(password), "***")
    return _KEYWORD_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))


def type_name(exc: BaseException) -> str:
    """The exception's type as a traceback's last line names it (module-qualified unless
    built in)."""
    kind = type(exc)
    if kind.__module__ in ("builtins", "__main__"):
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def first_line(exc: BaseException, dsn: str | None = None, *, typed: bool = False) -> str:
    """The first non-blank line of an exception's message, never failing: an empty message
    gives the type's name. `typed` puts the type in front (`ValueError: bad address`), as a
    traceback's last line does; with `dsn`, that DSN's password is masked."""
    lines = str(exc).strip().splitlines()
    message = lines[0].strip() if lines else ""
    if typed:
        name = type_name(exc)
        text = f"{name}: {message}" if message else name
    else:
        text = message or type(exc).__name__
    return redact(text, dsn) if dsn is not None else text

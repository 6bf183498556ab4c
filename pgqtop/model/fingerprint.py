"""Which failures are the same failure: an error's first line with its variable parts (quoted
values, UUIDs, timestamps, hex, numbers) replaced by placeholders, so 1,600 declined payments
are one group, not 1,600 rows.

The database computes the same pattern in a generated column of the failures table, from the
very rules below (`NORMALISATIONS`): each is a plain regular expression that Python's `re` and
PostgreSQL's regular expressions read alike (no backslashes, no word-boundary escapes; greedy
quantifiers whose longest match is also their first), applied in order, every match replaced.
"""

from __future__ import annotations

import hashlib
import re

_ALNUM = "A-Za-z0-9"
_HEX = "0-9a-fA-F"

NORMALISATIONS: tuple[tuple[str, str], ...] = (
    # A quoted value: an opening quote not glued to a word (so the apostrophe of "can't" opens
    # nothing), up to the next quote of the same kind.
    (f"(?<![{_ALNUM}_])'[^']*'", "<str>"),
    ('"[^"]*"', "<str>"),
    (f"[{_HEX}]{{8}}-[{_HEX}]{{4}}-[{_HEX}]{{4}}-[{_HEX}]{{4}}-[{_HEX}]{{12}}", "<uuid>"),
    (
        "[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.][0-9]+)?)?)?",
        "<time>",
    ),
    (f"(?<![{_ALNUM}])0[xX][{_HEX}]+", "<hex>"),
    # A run of 8 or more hex digits holding a digit and a letter: a hash, a trace id. Plain
    # numbers are left to the rule below, so ids of 7 and of 8 digits read alike.
    (f"(?<![{_ALNUM}])(?=[0-9]*[a-fA-F])(?=[a-fA-F]*[0-9])[{_HEX}]{{8,}}", "<hex>"),
    # A number not glued to letters or digits before it: `order 42`, `user_42`, `INV-42`,
    # `3.5`; but `utf8`, `sha256` and `v2` keep their digits.
    (f"(?<![{_ALNUM}])[0-9]+(?:[.][0-9]+)?", "<n>"),
)

_COMPILED = tuple((re.compile(pattern), replacement) for pattern, replacement in NORMALISATIONS)
_TYPE_PREFIX = re.compile(r"([A-Za-z_][\w.]*): ")

FINGERPRINT_LENGTH = 12
"""Hex digits of a fingerprint: short enough to type, long enough never to collide in a
failures table of a few hundred thousand rows."""


def error_pattern(error: str) -> str:
    """The first line of an error with its variable parts replaced by placeholders."""
    line = error.split("\n", 1)[0]
    for pattern, replacement in _COMPILED:
        line = pattern.sub(replacement, line)
    return line


def fingerprint(entrypoint: str, pattern: str) -> str:
    """The short name of a failure group: a hash of the entrypoint and the error pattern
    (the database computes it alike: left(md5(entrypoint || chr(10) || pattern), 12))."""
    digest = hashlib.md5(f"{entrypoint}\n{pattern}".encode(), usedforsecurity=False)
    return digest.hexdigest()[:FINGERPRINT_LENGTH]


def exception_name(pattern: str) -> str:
    """The exception type a pattern starts with (`PaymentDeclined: ...`), or "" when the error
    names none."""
    match = _TYPE_PREFIX.match(pattern)
    return match.group(1) if match else ""


def looks_like_fingerprint(text: str) -> bool:
    """Whether text could be a fingerprint: 12 lower-case hex digits."""
    return len(text) == FINGERPRINT_LENGTH and all(c in "0123456789abcdef" for c in text)

"""Which failures group together: the error pattern, its fingerprint and the exception name.
(That the database computes the same pattern is tested in tests/test_failure_groups.py.)"""

from __future__ import annotations

import pytest

from pgqtop.model.fingerprint import (
    error_pattern,
    exception_name,
    fingerprint,
    looks_like_fingerprint,
)


@pytest.mark.parametrize(
    ("error", "pattern"),
    [
        (
            "app.PaymentDeclined: card 4242 declined for order 99120",
            "app.PaymentDeclined: card <n> declined for order <n>",
        ),
        ("KeyError: 'user_42'", "KeyError: <str>"),
        ('ValueError: bad address "ana@example.com"', "ValueError: bad address <str>"),
        ("can't reach host 'db-3'", "can't reach host <str>"),
        (
            "job 3fa85f64-5717-4562-b3fc-2c963f66afa6 lost",
            "job <uuid> lost",
        ),
        (
            "TimeoutError: deadline 2024-01-02T03:04:05.123Z passed at 2024-01-02 03:04:09",
            "TimeoutError: deadline <time>Z passed at <time>",
        ),
        ("RuntimeError: object at 0x7f3a2b10 freed", "RuntimeError: object at <hex> freed"),
        ("trace deadbeef1234 failed", "trace <hex> failed"),
        ("order 12345678 and order 1234567", "order <n> and order <n>"),
        ("user_42 over quota by 3.5 GB", "user_<n> over quota by <n> GB"),
        ("INV-931 rejected", "INV-<n> rejected"),
        ("utf8 codec, sha256 digest, api v2", "utf8 codec, sha256 digest, api v2"),
        ("first line 7\ntraceback line 9", "first line <n>"),
        ("", ""),
    ],
)
def test_variable_parts_of_an_error_become_placeholders(error: str, pattern: str) -> None:
    assert error_pattern(error) == pattern


def test_the_same_error_with_other_values_has_the_same_pattern() -> None:
    errors = [
        f"app.PaymentDeclined: card {card} declined for order {order} ('{ref}')"
        for card, order, ref in [(4242, 1, "ab"), (1111, 99999999, "x y"), (7, 55, "")]
    ]
    assert len({error_pattern(e) for e in errors}) == 1


def test_a_fingerprint_names_the_entrypoint_and_the_pattern() -> None:
    pattern = error_pattern("KeyError: 'x'")
    assert looks_like_fingerprint(fingerprint("mail", pattern))
    assert fingerprint("mail", pattern) == fingerprint("mail", pattern)
    assert fingerprint("mail", pattern) != fingerprint("sms", pattern)
    assert fingerprint("mail", pattern) != fingerprint("mail", "KeyError: <n>")


@pytest.mark.parametrize(
    ("pattern", "name"),
    [
        ("app.PaymentDeclined: card <n> declined", "app.PaymentDeclined"),
        ("KeyError: <str>", "KeyError"),
        ("connection reset by peer", ""),
        ("no colon here: but spaces before it", ""),
    ],
)
def test_the_exception_name_is_the_pattern_prefix(pattern: str, name: str) -> None:
    assert exception_name(pattern) == name


@pytest.mark.parametrize(
    ("text", "valid"),
    [("0123456789ab", True), ("0123456789AB", False), ("0123456789a", False), ("xyz", False)],
)
def test_a_fingerprint_is_twelve_lower_case_hex_digits(text: str, valid: bool) -> None:
    assert looks_like_fingerprint(text) is valid

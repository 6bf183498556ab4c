"""What reaches a terminal: control characters, bidi overrides and lone surrogates shown
escaped, so text from the database or the command line cannot move the cursor, retitle the
window, reorder a line or print a fake row."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgqtop.model import printable

ESCAPED = [
    ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),
    ("bell\x07", "bell\\x07"),
    ("fake\nrow", "fake\\nrow"),
    ("cr\roverwrite", "cr\\roverwrite"),
    ("tab\there", "tab\\there"),
    ("nul\x00", "nul\\x00"),
    ("del\x7f", "del\\x7f"),
    ("c1 csi\x9b31m", "c1 csi\\x9b31m"),
    ("nel\x85", "nel\\x85"),
    ("\u202egnp.exe", "\\u202egnp.exe"),
    ("isolate\u2066x\u2069", "isolate\\u2066x\\u2069"),
    ("mark\u200f", "mark\\u200f"),
    ("line\u2028sep", "line\\u2028sep"),
    ("bad\udcffbyte", "bad\\udcffbyte"),
]


@pytest.mark.parametrize(("raw", "shown"), ESCAPED)
def test_control_and_bidi_characters_are_escaped(raw: str, shown: str) -> None:
    assert printable(raw) == shown


@pytest.mark.parametrize("text", ["plain", "ünïcödé ✓ 😀 👨‍👩‍👧", "back\\slash", "", "日本語"])
def test_printable_text_is_unchanged(text: str) -> None:
    assert printable(text) is text


BIDI_CONTROLS = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@given(
    st.text(st.characters(exclude_categories=[]))
    | st.text(st.characters(exclude_categories=[], max_codepoint=0x3000))
)
def test_nothing_that_acts_on_a_terminal_survives(text: str) -> None:
    shown = printable(text)
    for char in shown:
        assert unicodedata.category(char) not in ("Cc", "Cs", "Zl", "Zp"), repr(char)
        assert char not in BIDI_CONTROLS, repr(char)
    shown.encode("utf-8")
    if shown == text:
        assert shown is text

"""`format.literal`: the one way text from the database becomes something a widget shows."""

from __future__ import annotations

from pgqtop.tui.format import literal, literal_block, plural


def test_literal_is_never_markup_and_spells_out_control_characters() -> None:
    assert literal("[/]").plain == "[/]"
    assert literal("[bold]x[/bold]").spans == []
    assert literal("esc\x1b[31mred\x07").plain == "esc\\x1b[31mred\\x07"
    assert literal("two\nlines").plain == "two\\nlines"
    assert literal("\u202eevil").plain == "\\u202eevil"


def test_literal_keeps_every_script_and_cuts_towers_of_combining_marks() -> None:
    assert literal("宽字符🚀 café").plain == "宽字符🚀 café"
    assert literal("ze" + "\u0301" * 8 + "ro").plain == "ze\u0301\u0301ro"
    assert literal("ệ").plain == "ệ"  # two marks on one letter are writing, not an attack


def test_literal_block_keeps_line_breaks_only() -> None:
    text = literal_block("Traceback\r\n  line\x1b[2J\n\tdone")
    assert text.plain == "Traceback\n  line\\x1b[2J\n    done"


def test_plural_agrees_with_the_count() -> None:
    assert plural(1, "job") == "1 job"
    assert plural(0, "job") == "0 jobs"
    assert plural(1234, "queued job") == "1,234 queued jobs"
    assert plural(2, "entry", "entries") == "2 entries"

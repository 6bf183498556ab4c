"""Worker logs: one JSON object per line when asked, written to the stderr of the moment."""

from __future__ import annotations

import json
import logging

import pytest

from pgqtop.engine.logs import setup_logging


def test_json_format_writes_one_object_per_line_with_extra_fields(
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup_logging("json", "info")
    logging.getLogger("pgqtop.engine.manager").info("worker %s running", "ab12", extra={"n": 3})
    logging.getLogger("pgqtop.engine.manager").debug("not at info level")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["message"] == "worker ab12 running"
    assert (entry["level"], entry["logger"], entry["n"]) == ("info", "pgqtop.engine.manager", 3)


def test_text_format_is_one_readable_line(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("text", "warning")
    logging.getLogger("pgqtop.engine.listener").warning("notification channel lost")
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith("WARNING pgqtop.engine.listener: notification channel lost")

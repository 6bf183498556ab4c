"""--listen-dsn, --no-listen and --poll-interval, on the command line and in profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgqtop.cli import build_parser, main
from pgqtop.commands.run import settings_from_args
from pgqtop.config import parse_profile
from pgqtop.errors import ConfigError
from tests.test_cli_profiles import use_config


def test_flags_reach_the_settings() -> None:
    plain = settings_from_args(build_parser().parse_args(["--dsn", "host=pool"]))
    assert (plain.listen, plain.listen_dsn, plain.poll_interval) == (True, None, 1.0)
    assert plain.notify_dsn == "host=pool"

    split = settings_from_args(
        build_parser().parse_args(["--dsn", "host=pool", "--listen-dsn", "host=db"])
    )
    assert split.listen_dsn == "host=db" and split.notify_dsn == "host=db"

    polling = settings_from_args(
        build_parser().parse_args(["--no-listen", "--poll-interval", "0.25"])
    )
    assert (polling.listen, polling.poll_interval) == (False, 0.25)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--no-listen", "--listen-dsn", "host=db"], "contradict each other"),
        (["--poll-interval", "0"], "--poll-interval"),
        (["--poll-interval", "nan"], "--poll-interval"),
        (["--listen-dsn", " "], "--listen-dsn is empty"),
    ],
)
def test_bad_notification_flags_are_one_line(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--headless", "--factory", "x:y", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and expected in err and "Traceback" not in err


def test_profile_keys_are_checked(tmp_path: Path) -> None:
    table = {"dsn": "host=pool", "listen_dsn": "host=db", "listen": True, "poll_interval": 2}
    profile = parse_profile("pooled", table, tmp_path / "config.toml")
    assert (profile.listen_dsn, profile.listen, profile.poll_interval) == ("host=db", True, 2.0)
    for bad, message in [
        ({"listen": "no"}, "listen must be true or false"),
        ({"poll_interval": -1}, "poll interval"),
        ({"poll_interval": "1s"}, "poll_interval must be seconds"),
        ({"listen_dsn": "host=db password=hunter2"}, "contains a password"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_profile("pooled", {"dsn": "host=pool", **bad}, tmp_path / "config.toml")


def test_a_profile_sets_what_the_command_line_leaves_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_config(
        monkeypatch,
        tmp_path,
        '[profiles.pooled]\ndsn = "host=pool"\nlisten = false\npoll_interval = 3\n',
    )
    # A contradiction between profile and flag is reported like one on the command line.
    assert (
        main(["--headless", "--factory", "x:y", "--profile", "pooled", "--listen-dsn", "host=db"])
        == 2
    )
    assert "contradict" in capsys.readouterr().err

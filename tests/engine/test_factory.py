"""`--factory` problems are one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import pytest

from pgqtop import RetryPolicy, cli
from pgqtop.config import Settings

MODULE = "tests.engine.bad_factories"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--factory", "no_such_module_here:register"], "cannot import 'no_such_module_here'"),
        (["--factory", f"{MODULE}:missing"], "has no 'missing'"),
        (["--factory", f"{MODULE}:not_callable"], "'not_callable' is not callable"),
        (["--factory", f"{MODULE}:raises"], "failed: RuntimeError: the factory broke"),
        (["--factory", f"{MODULE}:registers_nothing"], "registered no entrypoints"),
        (["--factory", "no-colon"], "expected MODULE:FUNCTION"),
        (
            ["--factory", f"{MODULE}:registers_one", "--entrypoint", "other"],
            "--entrypoint other: not registered",
        ),
        ([], "--headless needs --factory"),
        (["--factory", f"{MODULE}:registers_one", "--batch-size", "0"], "--batch-size must be"),
    ],
)
def test_factory_problem_is_one_line_and_nonzero_exit(
    extra: list[str], message: str, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--headless", "--dsn", settings.dsn, "--prefix", settings.names.prefix, *extra]
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("pgqtop: error: "), err
    assert message in err


def test_missing_schema_is_one_line(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--headless", "--dsn", settings.dsn, "--prefix", "nothing_installed_here"]
    code = cli.main([*argv, "--factory", f"{MODULE}:registers_one"])
    err = capsys.readouterr().err
    assert code == 4 and "pgqtop install" in err and err.count("\n") == 1


def test_retry_policy_backs_off_exponentially_up_to_its_cap() -> None:
    policy = RetryPolicy(max_attempts=5, backoff=3.0, initial_delay=1.0, max_delay=5.0)
    assert [policy.delay(n) for n in range(1, 6)] == [1.0, 3.0, 5.0, 5.0, None]

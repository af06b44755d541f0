"""The command-line tools' error split: one line each, exit 2 for config, 1 for environment."""

from __future__ import annotations

import pytest

from pipeline.errors import ConfigError, EnvironmentFault, exit_on_fault


@pytest.mark.parametrize(
    ("error", "code"),
    [(ConfigError("bad k\n(line two); fix it"), 2), (EnvironmentFault("disk full; free it"), 1)],
)
def test_exit_on_fault_prints_one_line_and_the_exit_code(capsys, error, code) -> None:
    with pytest.raises(SystemExit) as stop, exit_on_fault():
        raise error
    assert stop.value.code == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"{type(error).__name__}: ")
    assert str(error).splitlines()[-1] in err


def test_exit_on_fault_lets_other_errors_and_success_through() -> None:
    with exit_on_fault():
        pass
    with pytest.raises(KeyError), exit_on_fault():
        raise KeyError("a bug: its traceback is wanted")

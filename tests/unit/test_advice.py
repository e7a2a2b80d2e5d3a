"""One table of advice keyed by error class, read by the provider (the fix) and the CLI (the exit status)."""

from __future__ import annotations

import pytest

from datadog_org_connections import advice, cli, errors
from datadog_org_connections.advice import STATE_KEYS_FIXES, advice_for, explain, fix_for

ERRORS = [getattr(errors, name) for name in errors.__all__ if name.endswith("Error")]


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_every_error_class_has_advice(cls: type[errors.DatadogError]) -> None:
    exc = cls("detail", operation="create org connection", status=400)
    found = advice_for(exc)
    assert found.fix and found.exit_code in cli.EXIT_CODES


def test_exit_statuses_by_class() -> None:
    def code(cls: type[errors.DatadogError]) -> int:
        return advice_for(cls("x")).exit_code

    assert code(errors.ConfigurationError) == cli.EXIT_CONFIG == 3
    assert code(errors.ForbiddenError) == cli.EXIT_FORBIDDEN == 5
    assert code(errors.NotFoundError) == cli.EXIT_NOT_FOUND == 4
    assert code(errors.ServerError) == code(errors.ConflictError) == cli.EXIT_API == 1
    assert cli.EXIT_USAGE is advice.EXIT_USAGE


def test_a_situation_overrides_the_fix_not_the_status() -> None:
    exc = errors.ForbiddenError("Forbidden", operation="delete org connection x", status=403)
    assert "--run-program" in fix_for(exc, STATE_KEYS_FIXES) and "--run-program" not in fix_for(exc)
    line = str(explain(exc, "delete org connection x", None, "sink", STATE_KEYS_FIXES))
    assert line.startswith("delete org connection x failed for the stack's org -> sink org sink: HTTP 403")
    assert advice_for(exc).exit_code == cli.EXIT_FORBIDDEN


def test_the_409_advice_names_the_repair_of_the_resources_stack_on_one_line() -> None:
    exc = errors.ConflictError("connection already exists", operation="create org connection", status=409)
    line = str(
        explain(exc, "create org connection", None, "sink", facts={"stack": "prod", "existing_id": "x"})
    )
    assert "\n" not in line
    assert "if an earlier `pulumi up` of this stack was interrupted" in line
    assert "`dd-org-connections reconcile --stack prod` in this project's directory prints the repair" in line
    assert "adopt_id='x'" in line
    assert "reconcile --stack <stack>" in fix_for(exc)  # the stack unknown: a placeholder, not a wrong name

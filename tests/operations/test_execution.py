"""The register's window on its execution (`cper.operations.execution`): provided by the finance
app when Django starts, and a clear refusal if it is not."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from cper.finance.register_execution import FinanceExecution
from cper.operations import execution as port


def test_the_finance_app_provides_the_registers_execution_at_start():
    assert isinstance(port.execution(), FinanceExecution)


def test_without_the_finance_app_a_write_is_refused_in_french(monkeypatch):
    monkeypatch.setattr(port, "_provided", [])
    with pytest.raises(ImproperlyConfigured, match=r"cper\.finance doit figurer"):
        port.execution()

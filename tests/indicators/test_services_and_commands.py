"""Recording indicator values (history kept, whole batch refused on one bad row, permissions,
audit), loading the catalogue and importing values from the command line."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command

from cper.audit.models import AuditEntry
from cper.indicators.models import Indicator, IndicatorValue
from cper.indicators.services import (
    IndicatorsRefused,
    ValueDraft,
    indicator_values_record_many,
)
from tests.conftest import ROOT
from tests.finance import factories as ff
from tests.indicators.factories import SYSTEM, catalogue, value

CATALOGUE = ROOT / "contracts" / "hauts-de-france-2021-2027.indicators.yaml"


def test_a_new_value_appends_and_keeps_the_history(hdf):
    catalogue(hdf)
    op = ff.operation(hdf)
    value(op, "T-M2", planned="100", day=dt.date(2024, 1, 10))
    value(op, "T-M2", planned="120", achieved="50", day=dt.date(2024, 5, 10))
    history = list(IndicatorValue.objects.filter(operation=op).order_by("date"))
    assert [(v.planned, v.achieved) for v in history] == [
        (Decimal("100"), None),
        (Decimal("120"), Decimal("50")),
    ]
    entries = AuditEntry.objects.filter(operation_id=op.pk, action="indicator.value_recorded")
    assert entries.count() == 2


def test_one_bad_row_refuses_the_batch_naming_its_row(hdf):
    catalogue(hdf)
    op = ff.operation(hdf, code="OP-IND-1")
    drafts = [
        ValueDraft("OP-IND-1", "T-M2", Decimal("10"), None, dt.date(2024, 1, 1), line=2),
        ValueDraft("OP-IND-1", "T-OCC", None, Decimal("140"), dt.date(2024, 1, 1), line=3),
        ValueDraft("OP-INCONNUE", "T-M2", Decimal("1"), None, dt.date(2024, 1, 1), line=4),
        ValueDraft("OP-IND-1", "T-M2", None, None, dt.date(2024, 1, 1), line=5),
    ]
    with pytest.raises(IndicatorsRefused) as caught:
        indicator_values_record_many(actor=SYSTEM, contract=hdf, values=drafts)
    messages = [str(f) for f in caught.value.findings]
    assert messages == [
        "ligne 3, achieved : « réalisé » : un pourcentage ne dépasse pas 100",
        "ligne 4, operation : opération inconnue « OP-INCONNUE »",
        "ligne 5, achieved : indiquez une valeur prévue ou réalisée",
    ]
    assert not IndicatorValue.objects.filter(operation=op).exists()


def test_observers_and_partner_managers_may_not_record_values(hdf, actors):
    catalogue(hdf)
    op = ff.operation(hdf)
    for who in ("observer", "state"):
        with pytest.raises(PermissionDenied):
            indicator_values_record_many(
                actor=actors[who],
                contract=hdf,
                values=[ValueDraft(op, "T-M2", Decimal("1"), None, dt.date(2024, 1, 1))],
            )
    made = indicator_values_record_many(
        actor=actors["instructor"],
        contract=hdf,
        values=[ValueDraft(op, "T-M2", Decimal("1"), None, dt.date(2024, 1, 1))],
    )
    assert made.values[0].recorded_by == actors["instructor"].user


def test_the_hdf_catalogue_loads_illustrative_and_reloads_unchanged(hdf):
    out = StringIO()
    call_command("indicators", "load", hdf.slug, str(CATALOGUE), stdout=out)
    assert "13 créé(s)" in out.getvalue()
    assert Indicator.objects.filter(contract=hdf).count() == 13
    assert not Indicator.objects.filter(contract=hdf).exclude(provenance="illustrative").exists()
    km = Indicator.objects.get(contract=hdf, code="R5-KM")
    assert sorted(o.code for o in km.objectives.all()) == ["5.1", "5.2", "5.3"]
    assert km.target_2027 == Decimal("350")
    again = StringIO()
    call_command("indicators", "load", hdf.slug, str(CATALOGUE), stdout=again)
    assert "0 créé(s), 0 modifié(s), 13 inchangé(s)" in again.getvalue()


def test_import_writes_nothing_when_a_row_is_bad_and_names_it(hdf, tmp_path):
    catalogue(hdf)
    ff.operation(hdf, code="OP-IMP-1")
    bad = tmp_path / "valeurs.csv"
    bad.write_text(
        "N° d'opération;Code indicateur;Prévu;Réalisé;Date;Source\n"
        "OP-IMP-1;T-M2;1 500,5;200;31/12/2024;rapport annuel\n"
        "OP-IMP-1;T-XX;10;;31/12/2024;\n"
        "OP-IMP-1;T-M2;abc;;2024-12-31;\n",
        encoding="utf-8",
    )
    err = StringIO()
    with pytest.raises(CommandError, match="rien n'a été enregistré"):
        call_command("indicators", "import", hdf.slug, str(bad), stderr=err)
    assert "ligne 4, planned : prévu : « abc » n'est pas un nombre" in err.getvalue()
    assert not IndicatorValue.objects.exists()
    # Once the file is read, the service names the unknown indicator with its row.
    bad.write_text(
        "N° d'opération;Code indicateur;Prévu;Réalisé;Date;Source\n"
        "OP-IMP-1;T-M2;1 500,5;200;31/12/2024;rapport annuel\n"
        "OP-IMP-1;T-XX;10;;31/12/2024;\n",
        encoding="utf-8",
    )
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("indicators", "import", hdf.slug, str(bad), stderr=err)
    assert "ligne 3, indicator : indicateur inconnu « T-XX »" in err.getvalue()
    assert not IndicatorValue.objects.exists()


def test_import_of_a_good_file_then_rollup_as_json(hdf, tmp_path):
    catalogue(hdf)
    ff.operation(hdf, code="OP-IMP-2", objective="2.2")
    ff.operation(hdf, code="OP-IMP-3", objective="2.5")
    good = tmp_path / "valeurs.csv"
    good.write_text(
        "N° d'opération;Code indicateur;Prévu;Réalisé;Date;Source\n"
        "OP-IMP-2;T-M2;1 500,5;200;31/12/2024;rapport annuel\n"
        "OP-IMP-3;T-M2;499,5;;31/12/2024;\n",
        encoding="utf-8",
    )
    out = StringIO()
    call_command("indicators", "import", hdf.slug, str(good), stdout=out)
    assert "2 valeur(s) enregistrée(s)" in out.getvalue()
    out = StringIO()
    call_command("indicators", "rollup", hdf.slug, "--by", "axis", "--format", "json", stdout=out)
    rows = json.loads(out.getvalue())["rows"]
    assert [(r["groupe"], r["indicateur"], r["prevu"], r["realise"]) for r in rows] == [
        (2, "T-M2", "2000", "200")
    ]

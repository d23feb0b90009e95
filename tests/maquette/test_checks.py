"""The maquette's checks in `cper contract check`."""

import datetime as dt
from decimal import Decimal

from cper.checks import BLOCKING, INFO, WARNING, run_checks
from cper.contracts.models import PartnerStatedAmount
from cper.maquette.models import Allocation, Amendment
from cper.maquette.rules import (
    check_allocations_cover_contract,
    check_amendments,
    check_computed_axis_shares,
    check_partner_stated_totals,
)


def _codes(findings, level=None):
    return {f.code for f in findings if level is None or f.level == level}


def test_the_hauts_de_france_file_has_no_blocking_finding(hdf):
    findings = run_checks(hdf)
    assert not [f for f in findings if f.level == BLOCKING], findings
    assert {"parts-calculees", "totaux-partenaires", "avenants", "enveloppe"} <= _codes(
        findings, INFO
    )
    shares = next(f for f in findings if f.code == "parts-calculees").message
    assert "axe 2 : annoncée 57,30 %, calculée 57,30 %" in shares


def test_an_unbalanced_redeployment_and_a_negative_cell_are_blocking(small):
    a = Amendment.objects.create(
        contract=small.contract,
        number=1,
        title="t",
        kind="redeployment",
        effective_on=dt.date(2022, 1, 1),
    )
    Allocation.objects.create(
        contract=small.contract,
        amendment=a,
        partner=small.partners[0],
        objective=small.objectives[0],
        year=2022,
        amount=Decimal("-150.00"),
    )
    findings = check_amendments(small.contract)
    assert {"redeploiement-non-equilibre", "allocation-negative"} <= _codes(findings, BLOCKING)
    negative = next(f for f in findings if f.code == "allocation-negative")
    assert "après l'avenant n°1" in negative.message and "-50,00" in negative.message


def test_additions_with_removals_and_amendments_out_of_order_are_blocking(small):
    Amendment.objects.create(
        contract=small.contract,
        number=1,
        title="t",
        kind="addition",
        effective_on=dt.date(2023, 1, 1),
    )
    a2 = Amendment.objects.create(
        contract=small.contract,
        number=2,
        title="t",
        kind="addition",
        effective_on=dt.date(2022, 1, 1),
    )
    Allocation.objects.create(
        contract=small.contract,
        amendment=a2,
        partner=small.partners[0],
        objective=small.objectives[0],
        year=2022,
        amount=Decimal("-1.00"),
    )
    codes = _codes(check_amendments(small.contract), BLOCKING)
    assert {"ajout-avec-retraits", "avenants-dans-le-desordre"} <= codes


def test_partner_totals_must_match_their_stated_totals(small):
    a = small.partners[0]
    PartnerStatedAmount.objects.create(partner=a, amount=Decimal("900.00"))  # computed: 900
    PartnerStatedAmount.objects.create(
        partner=a, axis=small.objectives[2].axis, amount=Decimal("1.00")
    )  # computed: 300
    findings = check_partner_stated_totals(small.contract)
    wrong = [f for f in findings if f.code == "total-partenaire-different"]
    assert len(wrong) == 1 and "l'axe 2" in wrong[0].message and wrong[0].level == BLOCKING
    assert "1 montant(s) annoncé(s)" in next(f for f in findings if f.level == INFO).message


def test_computed_shares_are_shown_with_the_stated_ones_and_gaps_flagged(small):
    # version 0: axis 1 = 2/3 of the money (66,67 %), stated 60 %; axis 2 33,33 % for 40 %.
    findings = check_computed_axis_shares(small.contract)
    assert "axe 1 : annoncée 60,00 %, calculée 66,67 %" in findings[0].message
    assert [f.level for f in findings[1:]] == [WARNING, WARNING]
    small.contract.share_tolerance = Decimal("7")
    assert [f.level for f in check_computed_axis_shares(small.contract)] == [INFO]


def test_version_0_against_the_envelope(small):
    contract = small.contract
    contract.envelope = Decimal("1000.00")  # version 0 is 1 800
    assert "allocations-au-dela-de-l-enveloppe" in _codes(
        check_allocations_cover_contract(contract), BLOCKING
    )
    contract.envelope = Decimal("2000.00")
    assert "enveloppe-non-repartie" in _codes(check_allocations_cover_contract(contract), WARNING)

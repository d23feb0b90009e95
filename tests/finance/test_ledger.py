"""The ledger's invariants: refused with clear French messages, nothing written; idempotency;
movements never edited nor deleted; permissions; audit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.admin.sites import site
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django.utils import timezone

from cper.accounts.models import Organisation, Role, User
from cper.audit.models import AuditEntry
from cper.audit.services import Actor
from cper.finance import rules, services
from cper.finance.models import ExecutionCell, LedgerImmutable, LineState, Movement
from cper.finance.services import MovementRefused
from tests.finance import factories as F

D = dt.date


def _snapshot() -> tuple:
    return (
        Movement.objects.count(),
        list(ExecutionCell.objects.order_by("pk").values_list("pk", "committed", "paid")),
        list(LineState.objects.order_by("pk").values_list("pk", "committed", "paid")),
        AuditEntry.objects.count(),
    )


def refused(line, kind, day, amount, **kwargs) -> str:  # type: ignore[no-untyped-def]
    before = _snapshot()
    with pytest.raises(MovementRefused) as exc:
        F.record(line, kind, day, amount, **kwargs)
    assert _snapshot() == before, "a refused movement wrote something"
    return str(exc.value)


@pytest.fixture
def line(hdf):  # type: ignore[no-untyped-def]
    op = F.operation(hdf, programmed_on=D(2022, 3, 15))
    return F.line(op, "etat", "1000.00")


def test_payment_before_any_commitment_is_refused(line):
    message = refused(line, "payment", D(2022, 5, 1), "10.00")
    assert "aucun engagement n'existe au 01/05/2022" in message
    assert "un paiement ne peut pas précéder l'engagement" in message


def test_payment_dated_before_the_commitment_is_refused(line):
    F.record(line, "commitment", D(2022, 6, 1), "500.00")
    message = refused(line, "payment", D(2022, 5, 31), "10.00")
    assert "aucun engagement n'existe au 31/05/2022" in message
    F.record(line, "payment", D(2022, 6, 1), "500.00")  # same day: allowed


def test_paid_above_committed_is_refused(line):
    F.record(line, "commitment", D(2022, 4, 1), "300.00")
    F.record(line, "payment", D(2022, 5, 1), "200.00")
    message = refused(line, "payment", D(2022, 6, 1), "100.01")
    assert "le payé (300,01\u00a0€) dépasserait l'engagé (300,00\u00a0€)" in message


def test_committed_above_programmed_is_refused_unless_within_tolerance(hdf, line):
    F.record(line, "commitment", D(2022, 4, 1), "900.00")
    message = refused(line, "commitment", D(2022, 5, 1), "100.50")
    assert "l'engagé (1\u202f000,50\u00a0€) dépasserait le montant programmé de la ligne" in message
    hdf.execution_tolerance = Decimal("1.00")
    hdf.save()
    F.record(line, "commitment", D(2022, 5, 1), "100.50")
    message = refused(line, "commitment", D(2022, 5, 2), "1.00")
    assert "au-delà de la tolérance du contrat (1,00\u00a0€)" in message


def test_line_of_an_operation_not_programmed_cannot_be_committed(hdf):
    op = F.operation(hdf, status="under_review", programmed_on=None)
    line = F.line(op, "etat", "1000.00")
    message = refused(line, "commitment", D(2022, 5, 1), "10.00")
    assert "la ligne n'est pas programmée" in message and "en instruction" in message


def test_backdated_decommitment_cannot_leave_earlier_payments_uncovered(line):
    c = F.record(line, "commitment", D(2022, 4, 1), "500.00")
    F.record(line, "payment", D(2022, 9, 1), "400.00")
    message = refused(line, "decommitment", D(2022, 6, 1), "200.00", cancels=c)
    assert "au 01/09/2022, le payé (400,00\u00a0€) dépasserait l'engagé (300,00\u00a0€)" in message
    F.record(line, "decommitment", D(2022, 10, 1), "100.00", cancels=c)


def test_cancellations_never_exceed_what_they_cancel(line):
    c1 = F.record(line, "commitment", D(2022, 4, 1), "300.00")
    F.record(line, "commitment", D(2022, 4, 2), "300.00")
    F.record(line, "decommitment", D(2022, 5, 1), "200.00", cancels=c1)
    message = refused(line, "decommitment", D(2022, 5, 2), "100.01", cancels=c1)
    assert "dépasse ce qu'il reste à annuler" in message and "reste 100,00\u00a0€" in message
    p = F.record(line, "payment", D(2022, 6, 1), "50.00")
    message = refused(line, "payment_cancellation", D(2022, 6, 2), "50.01", cancels=p)
    assert "dépasse ce qu'il reste à annuler du paiement 50,00\u00a0€" in message
    message = refused(line, "payment_cancellation", D(2022, 5, 31), "10.00", cancels=p)
    assert "précède le mouvement qu'elle annule" in message
    message = refused(line, "payment_cancellation", D(2022, 6, 2), "10.00", cancels=c1)
    assert "une annulation de paiement annule un paiement, pas un engagement" in message
    message = refused(line, "payment_cancellation", D(2022, 6, 2), "10.00")
    assert "indiquez le paiement" in message
    F.record(line, "payment_cancellation", D(2022, 6, 2), "50.00", cancels=p)


def test_a_cancellation_must_cancel_a_movement_of_the_same_line(hdf, line):
    other = F.line(line.operation, "region", "1000.00")
    c = F.record(other, "commitment", D(2022, 4, 1), "100.00")
    F.record(line, "commitment", D(2022, 4, 1), "100.00")
    message = refused(line, "decommitment", D(2022, 5, 1), "10.00", cancels=c)
    assert "appartient à une autre ligne" in message


@pytest.mark.parametrize(
    ("amount", "day", "expected"),
    [
        ("0", D(2022, 5, 1), "le montant doit être strictement positif"),
        ("-5", D(2022, 5, 1), "le montant doit être strictement positif"),
        ("abc", D(2022, 5, 1), "n'est pas un montant"),
        ("10", D(2020, 12, 31), "précède le début du contrat (01/01/2021)"),
        ("10", None, "postérieure à aujourd'hui"),
    ],
)
def test_amounts_and_dates_out_of_bounds(line, amount, day, expected):
    day = day or timezone.localdate() + dt.timedelta(days=1)
    before = _snapshot()
    with pytest.raises(MovementRefused) as exc:
        services.movement_record(
            actor=F.SYSTEM,
            financing_line=line,
            kind="commitment",
            date=day,
            amount=amount,
            reference="EJ-X",
        )
    assert expected in str(exc.value)
    assert _snapshot() == before


def test_reference_is_required(line):
    with pytest.raises(MovementRefused, match="indiquez la référence"):
        services.commitment_record(
            actor=F.SYSTEM, financing_line=line, date=D(2022, 4, 1), amount="1", reference=" "
        )


def test_idempotency_key_returns_the_same_movement_and_never_a_double(line):
    kwargs = dict(
        actor=F.SYSTEM,
        financing_line=line,
        date=D(2022, 4, 1),
        amount=Decimal("100.00"),
        reference="EJ-1",
        idempotency_key="import-42-row-7",
    )
    first = services.commitment_record(**kwargs)
    audits = AuditEntry.objects.count()
    second = services.commitment_record(**kwargs)
    assert second.pk == first.pk
    assert Movement.objects.filter(financing_line=line).count() == 1
    assert AuditEntry.objects.count() == audits
    assert LineState.objects.get(pk=line.pk).committed == 10000
    with pytest.raises(MovementRefused, match="a déjà servi pour un autre mouvement"):
        services.commitment_record(**{**kwargs, "amount": Decimal("100.01")})


def test_movements_are_never_edited_nor_deleted(line):
    m = F.record(line, "commitment", D(2022, 4, 1), "100.00")
    m.amount = Decimal("1.00")
    with pytest.raises(LedgerImmutable):
        m.save()
    with pytest.raises(LedgerImmutable):
        m.delete()
    with pytest.raises(LedgerImmutable):
        Movement.objects.filter(pk=m.pk).update(amount=Decimal("1.00"))
    with pytest.raises(LedgerImmutable):
        Movement.objects.filter(pk=m.pk).delete()
    admin = site._registry[Movement]
    request = RequestFactory().get("/")
    request.user = User(is_superuser=True, is_staff=True, is_active=True)
    assert not admin.has_change_permission(request, m)
    assert not admin.has_delete_permission(request, m)
    assert not admin.has_add_permission(request)


def test_recording_is_audited_with_its_path(line):
    m = F.record(line, "commitment", D(2022, 4, 1), "100.00", reference="EJ-0001")
    entry = AuditEntry.objects.get(subject_type="finance.movement", subject_id=str(m.pk))
    assert entry.action == "movement.commitment" and entry.via == "system"
    assert entry.changes["montant"] == "100.00" and entry.changes["référence"] == "EJ-0001"
    assert entry.operation_id == line.operation_id


def test_only_the_line_partners_manager_records(hdf, line):
    def user(role: str, org: str | None) -> User:
        return User.objects.create_user(
            username=f"u-{role}-{org}",
            role=role,
            organisation=Organisation.objects.get(code=org) if org else None,
        )

    for who in (user(Role.OBSERVER, None), user(Role.PARTNER_MANAGER, "departement-59")):
        with pytest.raises(PermissionDenied):
            F.record(line, "commitment", D(2022, 4, 1), "1.00", actor=Actor(user=who))
    state = user(Role.PARTNER_MANAGER, "etat")
    m = F.record(line, "commitment", D(2022, 4, 1), "1.00", actor=Actor(user=state))
    assert m.recorded_by == state and m.via == "web"


def test_pure_rules_report_the_first_breaking_day():
    E = rules.Entry
    findings = rules.ledger_findings(
        entries=[
            E("commitment", D(2022, 1, 1), Decimal("10")),
            E("payment", D(2022, 1, 2), Decimal("10")),
            E("decommitment", D(2022, 1, 3), Decimal("5")),
            E("payment", D(2022, 1, 4), Decimal("1")),
        ],
        programmed=Decimal("10"),
    )
    assert [f.message[:13] for f in findings] == ["au 03/01/2022"]


def test_the_check_reports_each_kind_of_cancellation_breach_written_behind_the_services(hdf, line):
    other = F.line(line.operation, "etat", "1000.00")
    commitment = F.record(line, "commitment", D(2022, 5, 2), "600.00")
    payment = F.record(line, "payment", D(2022, 6, 1), "100.00")
    F.record(other, "commitment", D(2022, 5, 2), "500.00")
    assert rules.cancellation_breaches(hdf) == []

    def written(kind: str, day: dt.date, amount: str, cancels: Movement) -> Movement:
        # no service would record these: straight into the table, as a faulty import might
        return Movement.objects.create(
            financing_line=cancels.financing_line if kind != "other" else other,
            kind=kind if kind != "other" else "decommitment",
            date=day,
            amount=Decimal(amount),
            reference="FAUX",
            cancels=cancels,
        )

    over = written("payment_cancellation", D(2022, 7, 1), "150.00", payment)
    wrong_kind = written("decommitment", D(2022, 7, 2), "10.00", payment)
    elsewhere = written("other", D(2022, 7, 3), "10.00", commitment)
    early = written("decommitment", D(2022, 5, 1), "10.00", commitment)
    assert rules.cancellation_breaches(hdf) == [
        f"le mouvement n° {payment.pk} (100,00\u00a0€) est annulé pour 160,00\u00a0€",
        f"le mouvement n° {wrong_kind.pk} (decommitment) annule un payment",
        f"le mouvement n° {elsewhere.pk} annule un mouvement d'une autre ligne",
        f"le mouvement n° {early.pk} précède le mouvement n° {commitment.pk} qu'il annule",
    ]
    assert over.pk

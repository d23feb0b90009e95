"""The one way operations are created: a batch of drafts, each written or refused with the
exact messages of the services (`operation_create` is a batch of one)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from cper.audit.models import AuditEntry
from cper.contracts.models import Objective, Partner
from cper.findings import as_error_dict
from cper.operations import bulk, selectors, services
from cper.operations.models import (
    Committee,
    Decision,
    ExternalReference,
    Operation,
    OperationTransition,
    ProjectOwner,
)
from tests.operations.factories import OwnerFactory, make_operation, valid_siret

S = "submitted"


@pytest.fixture
def ctx(hdf):  # type: ignore[no-untyped-def]
    return {
        "obj": {o.code: o for o in Objective.objects.filter(contract=hdf)},
        "partner": {p.code: p for p in Partner.objects.filter(contract=hdf)},
    }


def _draft(ctx, **kw):  # type: ignore[no-untyped-def]
    values = {
        "title": "Médiathèque",
        "owner": kw.pop("owner", None) or OwnerFactory(),
        "objective": ctx["obj"]["2.2"],
        "communes": ["59350"],
    }
    values.update(kw)
    return bulk.OperationDraft(**values)


def _errors(outcome):  # type: ignore[no-untyped-def]
    assert outcome.refusal is not None and outcome.operation is None
    return as_error_dict(outcome.refusal.findings)


def test_each_draft_is_written_or_refused_at_its_first_failing_stage(hdf, actors, ctx):
    etat = ctx["partner"]["etat"]
    bad_owner = bulk.OwnerDraft(name="X", legal_category="commune", siret="12345678901234")
    committee = bulk.CommitteeDraft(kind="programmation", date=dt.date(2024, 5, 2))
    drafts = [
        _draft(ctx, code="A-1", lines=[bulk.LineDraft("partner", Decimal("10"), partner=etat)]),
        _draft(ctx, code="A-2", owner=bad_owner),
        _draft(ctx, code="A-3", communes=["99999"], cost_ht="-1"),
        _draft(ctx, code="A-4", cost_ht="beaucoup"),
        _draft(
            ctx,
            code="A-5",
            lines=[
                bulk.LineDraft("partner", Decimal("10"), partner=etat),
                bulk.LineDraft("partner", Decimal("-5"), partner=etat),
            ],
        ),
        _draft(
            ctx,
            code="A-6",
            status="programmed",
            committee=committee,
            lines=[bulk.LineDraft("owner", Decimal("10"))],
        ),
        _draft(ctx, code="A-7", status="abandoned"),
        _draft(ctx, code="A-1"),
    ]
    outcomes = bulk.operations_create_many(actor=actors["admin"], contract=hdf, drafts=drafts)
    assert outcomes[0].operation is not None and outcomes[0].operation.code == "A-1"
    assert outcomes[1].refusal.stage == "owner"
    assert _errors(outcomes[1]) == {
        "siret": ["le SIRET « 12345678901234 » est invalide : la clé de contrôle ne correspond pas"]
    }
    assert outcomes[2].refusal.stage == "operation"
    assert _errors(outcomes[2]) == {
        "cost_ht": ["le coût total HT ne peut pas être négatif"],
        "communes": ["commune(s) inconnue(s) : 99999"],
    }
    assert _errors(outcomes[3]) == {"cost_ht": ["« beaucoup » n'est pas un montant"]}
    assert (outcomes[4].refusal.stage, outcomes[4].refusal.line) == ("line", 1)
    assert _errors(outcomes[4]) == {
        "amount": ["le montant ne peut pas être négatif (-5,00\u00a0€)"]
    }
    assert outcomes[5].refusal.stage == "status"
    assert _errors(outcomes[5]) == {
        "amounts": ["une décision favorable approuve au moins un montant d'un partenaire"]
    }
    assert _errors(outcomes[6]) == {"status": ["passer à « abandonnée » exige un motif"]}
    assert _errors(outcomes[7]) == {"code": ["le numéro « A-1 » existe déjà dans ce contrat"]}
    # Nothing of the refused drafts: no owner, no committee, no operation.
    assert list(Operation.objects.filter(contract=hdf).values_list("code", flat=True)) == ["A-1"]
    assert not ProjectOwner.objects.filter(name="X").exists()
    assert not Committee.objects.filter(contract=hdf).exists()


def test_the_one_by_one_service_raises_the_batch_refusal(hdf, actors, ctx):
    with pytest.raises(ValidationError) as exc:
        services.operation_create(
            actor=actors["admin"],
            contract=hdf,
            title="",
            owner=OwnerFactory(),
            objective=ctx["obj"]["2.2"],
            communes=["99999"],
        )
    assert exc.value.message_dict == {
        "title": ["l'intitulé est obligatoire"],
        "communes": ["commune(s) inconnue(s) : 99999"],
    }
    with pytest.raises(PermissionDenied):
        services.operation_create(
            actor=actors["observer"],
            contract=hdf,
            title="Refusée",
            owner=OwnerFactory(),
            objective=ctx["obj"]["2.2"],
        )
    assert not Operation.objects.filter(contract=hdf).exists()


def test_numbers_already_taken_are_named(hdf, actors, ctx):
    owner = OwnerFactory(name="Ville de Lille")
    with pytest.raises(ValidationError) as exc:
        services.owner_create(
            actor=actors["admin"], name="Autre", legal_category="commune", siret=owner.siret
        )
    assert exc.value.message_dict == {
        "siret": [f"ce numéro est déjà celui de « Ville de Lille » ({owner.pk})"]
    }
    etat = ctx["partner"]["etat"]
    first = make_operation(hdf, code="R-1")
    ExternalReference.objects.create(operation=first, partner=etat, reference="E-42")
    [outcome] = bulk.operations_create_many(
        actor=actors["admin"],
        contract=hdf,
        drafts=[_draft(ctx, external_references={etat: "E-42"})],
    )
    assert _errors(outcome) == {
        "external_references": ["la référence « E-42 » est déjà celle de l'opération R-1"]
    }
    # Two new owners with one number in a batch: the second is refused.
    number = valid_siret(777)
    drafts = [
        _draft(ctx, owner=bulk.OwnerDraft(name=f"Commune {i}", legal_category="commune",
                                          siret=number))
        for i in (1, 2)
    ]  # fmt: skip
    outcomes = bulk.operations_create_many(actor=actors["admin"], contract=hdf, drafts=drafts)
    assert outcomes[0].operation is not None
    assert _errors(outcomes[1]) == {
        "siret": ["ce numéro est déjà celui de « Commune 1 » (nouveau)"]
    }


def test_a_blocking_contract_counts_the_drafts_before_in_the_batch(hdf, actors, ctx):
    hdf.over_programming = "block"
    hdf.save(update_fields=["over_programming"])
    etat, obj = ctx["partner"]["etat"], ctx["obj"]["2.2"]
    [figure] = selectors.programmed_figures(contract=hdf, pairs={(etat.pk, obj.pk)})
    room = figure.maquette - figure.programmed
    assert room > 2
    committee = bulk.CommitteeDraft(kind="programmation", date=dt.date(2023, 1, 10))

    def programmed(amount: Decimal) -> bulk.OperationDraft:
        return _draft(
            ctx,
            status="programmed",
            committee=committee,
            lines=[bulk.LineDraft("partner", amount, partner=etat)],
        )

    outcomes = bulk.operations_create_many(
        actor=actors["admin"],
        contract=hdf,
        drafts=[programmed(room - 1), programmed(Decimal("2")), programmed(Decimal("1"))],
    )
    assert outcomes[0].operation is not None and outcomes[2].operation is not None
    [message] = _errors(outcomes[1])["amount"]
    assert message.startswith(f"sur-programmation {etat} × objectif 2.2 : ")
    assert "(dépassement de 1,00\u00a0€)" in message
    [after] = selectors.programmed_figures(contract=hdf, pairs={(etat.pk, obj.pk)})
    assert after.programmed == figure.maquette


def test_a_committee_decides_adjourns_rejects_or_takes_on_its_agenda_dated_as_given(
    hdf, actors, ctx
):
    """Issue 18: a committee given with an adjourned or rejected status is that committee's
    decision (notes: the reason); with a status awaiting it, the operation is on its agenda;
    `reached_at` dates the walk and the decisions (the rest: now)."""
    etat = ctx["partner"]["etat"]
    paris = dt.timezone(dt.timedelta(hours=1))
    day = dt.datetime(2023, 3, 15, 12, tzinfo=paris)
    deposited = dt.datetime(2022, 12, 1, 9, tzinfo=paris)
    committee = bulk.CommitteeDraft(
        kind="programmation", date=day.date(), place=" Lille ", provenance="illustrative"
    )
    existing = services.committee_create(
        actor=actors["admin"], contract=hdf, kind="programmation", date=dt.date(2026, 10, 15)
    )
    line = [bulk.LineDraft("partner", Decimal("10"), partner=etat)]
    drafts = [
        _draft(ctx, code="C-1", status="adjourned", committee=committee, lines=line,
               reason="dossier à compléter", reached_at={"adjourned": day, "submitted": deposited}),
        _draft(ctx, code="C-2", status="rejected", committee=existing, reason="hors critères"),
        _draft(ctx, code="C-3", status="under_review", committee=existing),
        _draft(ctx, code="C-4", status="adjourned", reason="sans comité"),
        _draft(ctx, code="C-5", status="programmed", committee=committee, lines=line,
               reached_at={"programmed": day}),
    ]  # fmt: skip
    before = timezone.now()
    outcomes = bulk.operations_create_many(actor=actors["admin"], contract=hdf, drafts=drafts)
    assert [o.refusal for o in outcomes] == [None] * 5
    ops = {o.operation.code: o.operation for o in outcomes}
    assert committee.created is not None
    assert (committee.created.place, committee.created.provenance) == ("Lille", "illustrative")

    def decision(code):  # type: ignore[no-untyped-def]
        return Decision.objects.filter(operation=ops[code]).first()

    adjourned = decision("C-1")
    assert (adjourned.committee, adjourned.outcome) == (committee.created, "adjourned")
    assert (adjourned.notes, adjourned.decided_at) == ("dossier à compléter", day)
    assert not adjourned.amounts.exists()
    rejected = decision("C-2")
    assert (rejected.committee, rejected.outcome, rejected.notes) == (
        existing,
        "rejected",
        "hors critères",
    )
    agenda = decision("C-3")
    assert (agenda.committee, agenda.outcome, agenda.decided_at) == (existing, None, None)
    assert decision("C-4") is None  # no committee: the reason alone, as before
    programmed = decision("C-5")
    assert (programmed.outcome, programmed.decided_at) == ("approved", day)
    assert programmed.amounts.count() == 1

    log = {
        (t.operation.code, t.to_status): t
        for t in OperationTransition.objects.filter(operation__in=ops.values())
    }
    assert log[("C-1", "submitted")].at == deposited
    assert log[("C-1", "under_review")].at >= before  # not given: now
    assert log[("C-1", "adjourned")].at == day
    assert log[("C-1", "adjourned")].decision == adjourned
    assert log[("C-1", "adjourned")].reason == "dossier à compléter"
    assert log[("C-2", "rejected")].decision == rejected
    assert log[("C-4", "adjourned")].decision is None
    assert all(t.decision is None for (code, _), t in log.items() if code == "C-3")
    assert log[("C-5", "programmed")].at == day
    agendas = AuditEntry.objects.filter(action="committee.agenda_added", operation_id__in=[
        ops[c].pk for c in ("C-1", "C-2", "C-3")
    ])  # fmt: skip
    assert agendas.count() == 3
    recorded = AuditEntry.objects.get(
        action="committee.decision_recorded", operation_id=ops["C-1"].pk
    )
    assert recorded.changes["outcome"]["après"] == "adjourned"
    assert recorded.message.endswith(" : dossier à compléter")

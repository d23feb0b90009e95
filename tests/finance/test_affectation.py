"""The local authorities' AP/CP chain: affectation d'AP, engagement, mandat; désaffectation;
caducité. The rules as pure functions, then through the ledger's one write path (a refused
movement writes nothing), the summaries' `affected`, and the caducité alert at its date."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from cper.accounts.models import Organisation, Role, User
from cper.audit.models import AuditEntry
from cper.finance import rules, selectors, services, summaries
from cper.finance.demo import line_movements, with_affectations
from cper.finance.models import LineState, Movement
from cper.finance.rules import Entry
from tests.finance import factories as F

D = dt.date
E = Decimal


def entry(kind: str, day: dt.date, amount: str) -> Entry:
    return Entry(kind=kind, date=day, amount=E(amount))


def plain(text: str) -> str:
    """French amounts are spaced with (narrow) no-break spaces: plain spaces to compare."""
    return text.replace("\xa0", " ").replace("\u202f", " ")


def messages(findings: list[rules.Finding]) -> list[str]:
    return [plain(f.message) for f in findings]


# -- the rules, as pure functions ------------------------------------------------------------------


def test_a_commitment_without_affectation_is_refused_only_where_the_partner_requires_one():
    existing: list[Entry] = []
    new = entry("commitment", D(2022, 4, 1), "100.00")
    required = rules.affectation_findings(
        entries=existing, new=new, programmed=E("1000.00"), required=True
    )
    assert messages(required) == [
        "aucune AP n'est affectée à cette ligne au 01/04/2022 : son partenaire exige une "
        "affectation (délibération) avant tout engagement"
    ]
    assert required[0].field == "amount"
    assert not rules.affectation_findings(
        entries=existing, new=new, programmed=E("1000.00"), required=False
    )


def test_a_commitment_beyond_the_net_affected_amount_is_refused_with_the_gap():
    existing = [
        entry("affectation", D(2022, 3, 1), "500.00"),
        entry("desaffectation", D(2022, 3, 10), "100.00"),
        entry("commitment", D(2022, 4, 1), "300.00"),
    ]
    new = entry("commitment", D(2022, 5, 2), "150.00")
    found = rules.affectation_findings(
        entries=existing, new=new, programmed=E("1000.00"), required=True
    )
    # affected 400, committed 450: 50 beyond
    assert messages(found) == [
        "au 02/05/2022, l'engagé (450,00 €) dépasserait l'AP affectée à la ligne (400,00 €) "
        "de 50,00 €"
    ]
    ok = entry("commitment", D(2022, 5, 2), "100.00")
    assert not rules.affectation_findings(
        entries=existing, new=ok, programmed=E("1000.00"), required=True
    )


def test_a_desaffectation_cannot_release_what_is_committed():
    existing = [
        entry("affectation", D(2022, 3, 1), "500.00"),
        entry("commitment", D(2022, 4, 1), "300.00"),
    ]
    too_much = entry("desaffectation", D(2022, 6, 1), "250.00")
    found = rules.affectation_findings(entries=existing, new=too_much, programmed=E("1000.00"))
    assert messages(found) == [
        "au 01/06/2022, la désaffectation laisserait une AP affectée (250,00 €) inférieure à "
        "l'engagé (300,00 €) : on ne désaffecte pas ce qui est engagé (désengagez d'abord)"
    ]
    # 500 affected − 300 committed = 200 free: releasing exactly that is accepted
    free = entry("desaffectation", D(2022, 6, 1), "200.00")
    assert not rules.affectation_findings(entries=existing, new=free, programmed=E("1000.00"))


def test_net_affected_never_goes_negative_nor_beyond_the_programmed_amount():
    affected = [entry("affectation", D(2022, 3, 1), "100.00")]
    below = rules.affectation_findings(
        entries=affected, new=entry("desaffectation", D(2022, 3, 2), "100.01"), programmed=E(1000)
    )
    assert messages(below) == [
        "au 02/03/2022, l'AP affectée à la ligne deviendrait négative (-0,01 €) : on ne "
        "désaffecte pas plus qu'on a affecté"
    ]
    beyond = rules.affectation_findings(
        entries=affected,
        new=entry("affectation", D(2022, 3, 2), "950.00"),
        programmed=E("1000.00"),
        tolerance=E("10.00"),
    )
    assert messages(beyond) == [
        "au 02/03/2022, l'AP affectée (1 050,00 €) dépasserait le montant programmé de la ligne "
        "(1 000,00 €) de 50,00 €, au-delà de la tolérance du contrat (10,00 €)"
    ]
    within = rules.affectation_findings(
        entries=affected,
        new=entry("affectation", D(2022, 3, 2), "910.00"),
        programmed=E("1000.00"),
        tolerance=E("10.00"),
    )
    assert within == []


def test_a_line_committed_before_affectations_were_required_still_takes_payments():
    legacy = [entry("commitment", D(2022, 4, 1), "300.00")]
    payment = entry("payment", D(2022, 5, 1), "100.00")
    assert not rules.affectation_findings(
        entries=legacy, new=payment, programmed=E(1000), required=True
    )
    more = entry("commitment", D(2022, 5, 1), "1.00")
    assert rules.affectation_findings(entries=legacy, new=more, programmed=E(1000), required=True)


def test_a_payment_beyond_the_affectation_is_refused_through_the_commitment_ceiling():
    existing = [
        entry("affectation", D(2022, 3, 1), "100.00"),
        entry("commitment", D(2022, 3, 2), "100.00"),
    ]
    found = rules.movement_findings(
        kind="payment",
        date=D(2022, 4, 1),
        amount=E("150.00"),
        reference="MDT-1",
        existing=existing,
        programmed=E("1000.00"),
        first_day=D(2021, 1, 1),
        today=D(2026, 1, 1),
        affectation_required=True,
    )
    assert messages(found) == [
        "au 01/04/2022, le payé (150,00 €) dépasserait l'engagé (100,00 €) de 50,00 €"
    ]


# -- caducité, as pure functions ---------------------------------------------------------------


def test_the_caducity_date_runs_from_the_affectation_then_from_the_last_payment():
    movements = [entry("affectation", D(2022, 3, 31), "1000.00")]
    assert rules.caducity_date(entries=movements, months=36, as_of=D(2024, 1, 1)) == D(2025, 3, 31)
    movements += [
        entry("commitment", D(2022, 6, 1), "800.00"),
        entry("payment", D(2023, 2, 28), "200.00"),
    ]
    assert rules.caducity_date(entries=movements, months=36, as_of=D(2024, 1, 1)) == D(2026, 2, 28)
    # a payment after the date looked at does not count yet
    assert rules.caducity_date(entries=movements, months=36, as_of=D(2023, 2, 27)) == D(2025, 3, 31)
    # a partner without caducité
    assert rules.caducity_date(entries=movements, months=None, as_of=D(2024, 1, 1)) is None


def test_releasing_what_is_left_unpaid_ends_the_caducity():
    movements = [
        entry("affectation", D(2022, 3, 1), "1000.00"),
        entry("commitment", D(2022, 4, 1), "600.00"),
        entry("payment", D(2022, 5, 1), "600.00"),
    ]
    assert rules.caducity_date(entries=movements, months=36, as_of=D(2023, 1, 1)) == D(2025, 5, 1)
    movements.append(entry("desaffectation", D(2023, 1, 2), "400.00"))
    assert rules.caducity_date(entries=movements, months=36, as_of=D(2023, 6, 1)) is None


def test_the_caducity_finding_appears_on_its_date_and_not_the_day_before():
    movements = [entry("affectation", D(2022, 3, 20), "1000.00")]
    assert rules.caducity_findings(entries=movements, months=36, as_of=D(2025, 3, 19)) == []
    found = rules.caducity_findings(entries=movements, months=36, as_of=D(2025, 3, 20))
    assert messages(found) == [
        "AP affectée sans mandatement depuis 36 mois : caducité le 20/03/2025"
    ]
    assert found[0].level == "warning"
    near = rules.caducity_findings(
        entries=movements, months=36, as_of=D(2024, 12, 20), warn_months=3
    )
    assert messages(near) == [
        "AP affectée sans mandatement depuis 33 mois : caducité le 20/03/2025"
    ]


# -- through the service -------------------------------------------------------------------------


@pytest.fixture
def region_line(hdf):  # type: ignore[no-untyped-def]
    return F.line(F.operation(hdf, programmed_on=D(2022, 3, 15)), "region", "1000.00")


def _state(line) -> LineState:  # type: ignore[no-untyped-def]
    return LineState.objects.get(pk=line.pk)


def test_the_reference_contract_requires_affectations_of_the_local_authorities(hdf):
    flags = dict(hdf.partners.values_list("code", "affectation_required"))
    assert flags["region"] and flags["dep-59"] and flags["mel"] and flags["amiens-metropole"]
    assert not flags["etat"]
    assert hdf.partners.get(code="region").caducity_months == 36


def test_a_refused_commitment_writes_nothing(region_line):
    F.record(region_line, "affectation", D(2022, 3, 20), "400.00", reference="CP-2022-01")
    before = (Movement.objects.count(), AuditEntry.objects.count())
    with pytest.raises(services.MovementRefused) as refused:
        F.record(region_line, "commitment", D(2022, 4, 1), "500.00", affect=False)
    gap = "dépasserait l'AP affectée à la ligne (400,00 €) de 100,00 €"
    assert gap in plain(str(refused.value))
    assert refused.value.findings[0].field == "amount"
    assert (Movement.objects.count(), AuditEntry.objects.count()) == before
    state = _state(region_line)
    assert (state.affected, state.committed) == (40000, 0)


def test_the_chain_affectation_commitment_payment_desaffectation_keeps_the_summaries(
    hdf, region_line
):
    F.record(region_line, "affectation", D(2022, 3, 20), "800.00", reference="CP-2022-01")
    F.record(region_line, "commitment", D(2022, 4, 1), "500.00", affect=False)
    F.record(region_line, "payment", D(2022, 5, 1), "200.00")
    with pytest.raises(services.MovementRefused):
        F.record(region_line, "payment", D(2022, 5, 2), "301.00")  # beyond the commitment
    with pytest.raises(services.MovementRefused):
        F.record(region_line, "desaffectation", D(2022, 6, 1), "300.01")  # 500 is committed
    services.desaffectation_record(
        actor=F.SYSTEM,
        financing_line=region_line,
        date=D(2022, 6, 1),
        amount="300.00",
        reference="CP-2022-07",
    )
    state = _state(region_line)
    assert (state.affected, state.committed, state.paid) == (50000, 50000, 20000)
    actions = set(
        AuditEntry.objects.filter(operation_id=region_line.operation_id).values_list(
            "action", flat=True
        )
    )
    assert {"movement.affectation", "movement.desaffectation"} <= actions
    assert summaries.verify(hdf) == []
    summaries.rebuild(hdf)
    assert _state(region_line).affected == 50000


# -- caducité, through the selector and the pages ---------------------------------------------


def test_the_caducity_alert_appears_on_its_date_and_a_desaffectation_removes_it(hdf, region_line):
    region = hdf.partners.get(code="region")
    F.record(region_line, "affectation", D(2022, 3, 20), "1000.00", reference="CP-2022-01")

    def listed(as_of: dt.date) -> list[selectors.CaducityLine]:
        return selectors.lines_near_caducity(partner=region, as_of=as_of, warn_months=0).rows

    assert listed(D(2025, 3, 19)) == []
    [row] = listed(D(2025, 3, 20))
    assert row.line == region_line and row.lapses_on == D(2025, 3, 20) and row.past
    lapsed = "AP affectée sans mandatement depuis 36 mois : caducité le 20/03/2025"
    assert plain(row.message) == lapsed
    assert row.affected == E("1000.00")
    # within three months of it, the workspace already lists it, not yet past
    [soon] = selectors.lines_near_caducity(partner=region, as_of=D(2025, 1, 1)).rows
    assert not soon.past
    F.record(region_line, "desaffectation", D(2024, 1, 10), "1000.00", reference="CP-2024-02")
    assert listed(D(2025, 3, 20)) == []


def test_the_caducity_alert_at_today_reads_the_dates_the_states_keep(hdf, region_line, monkeypatch):
    region = hdf.partners.get(code="region")
    other = F.line(region_line.operation, "region", "900.00")
    F.record(region_line, "affectation", D(2022, 3, 20), "1000.00", reference="CP-2022-01")
    F.record(region_line, "commitment", D(2022, 4, 1), "800.00", affect=False)
    F.record(region_line, "payment", D(2022, 6, 1), "100.00")
    F.record(other, "affectation", D(2021, 5, 2), "900.00", reference="CP-2021-09")
    state = _state(region_line)
    assert (state.paid_on, state.opened_on) == (D(2022, 6, 1), D(2022, 3, 20))
    today = timezone.localdate()

    def listed() -> list[tuple[int, dt.date, dt.date]]:
        rows = selectors.lines_near_caducity(partner=region, as_of=today).rows
        return [(r.line.pk, r.since, r.lapses_on) for r in rows]

    kept = listed()
    assert [pk for pk, *_ in kept] == [other.pk, region_line.pk]
    # the same lines and dates as grouped from the ledger (the path of a past date)
    monkeypatch.setattr(selectors.timezone, "localdate", lambda: today + dt.timedelta(days=1))
    assert listed() == kept


def test_at_a_past_date_the_caducity_runs_from_the_last_payment_made_by_then(hdf, region_line):
    region = hdf.partners.get(code="region")
    F.record(region_line, "affectation", D(2022, 3, 20), "1000.00", reference="CP-2022-01")
    F.record(region_line, "commitment", D(2022, 4, 1), "800.00", affect=False)
    F.record(region_line, "payment", D(2022, 6, 1), "100.00")
    F.record(region_line, "payment", D(2025, 5, 15), "100.00")  # later than the dates below
    assert _state(region_line).paid_on == D(2025, 5, 15)

    [row] = selectors.lines_near_caducity(partner=region, as_of=D(2025, 5, 10)).rows
    assert (row.line, row.since, row.lapses_on, row.past) == (
        region_line,
        D(2022, 6, 1),
        D(2025, 6, 1),
        False,
    )
    # the payment of 15/05/2025 restarts the delay: nothing lapses on 01/06/2025
    assert (
        selectors.lines_near_caducity(partner=region, as_of=D(2025, 6, 1), warn_months=0).rows == []
    )


def test_an_affectation_of_29_february_lapses_on_28_february_three_years_on(hdf, region_line):
    region = hdf.partners.get(code="region")
    F.record(region_line, "affectation", D(2024, 2, 29), "1000.00", reference="CP-2024-02")

    def listed(as_of: dt.date) -> list[dt.date]:
        rows = selectors.lines_near_caducity(partner=region, as_of=as_of, warn_months=0).rows
        return [r.lapses_on for r in rows]

    assert listed(D(2027, 2, 27)) == []
    assert listed(D(2027, 2, 28)) == [D(2027, 2, 28)]


def test_the_caducity_list_answers_at_the_calendars_ends(hdf, region_line):
    region = hdf.partners.get(code="region")
    F.record(region_line, "affectation", D(2022, 3, 20), "1000.00", reference="CP-2022-01")
    # year 1: nothing was opened yet; 31/12/9999: everything unpaid has lapsed long before
    assert selectors.lines_near_caducity(partner=region, as_of=dt.date.min).rows == []
    [row] = selectors.lines_near_caducity(partner=region, as_of=dt.date.max).rows
    assert (row.line, row.lapses_on, row.past) == (region_line, D(2025, 3, 20), True)
    assert rules.add_months(dt.date.max, 1) == dt.date.max
    assert rules.add_months(dt.date.min, -1) == dt.date.min


def test_the_workspace_and_the_dashboard_show_the_lapsed_lines(
    client, hdf, region_line, django_assert_max_num_queries
):
    F.record(region_line, "affectation", D(2022, 3, 20), "1000.00", reference="CP-2022-01")
    manager = User.objects.create_user(
        username="region-caducite",
        role=Role.PARTNER_MANAGER,
        organisation=Organisation.objects.get(code="region-hauts-de-france"),
    )
    client.force_login(manager)
    response = client.get(reverse("web:workspace", kwargs={"slug": hdf.slug}))
    tables = {t.id: t for t in response.context["lists"]}
    [row] = tables["caducite"].rows
    assert row[0] == region_line.operation.code and row[3] == "20/03/2025"
    assert plain(row[7]).startswith("AP affectée sans mandatement depuis ")
    assert plain(row[7]).endswith(" mois : caducité le 20/03/2025")
    assert "Caducité : une AP affectée ou un engagement sans mandatement" in (
        response.content.decode()
    )
    client.force_login(User.objects.create_user("caducite-observer", role=Role.OBSERVER))
    url = reverse("web:dashboard", kwargs={"slug": hdf.slug})
    response = client.get(url, {"date": "2025-03-20"})
    assert "AP affectées et engagements caducs" in response.content.decode()
    alert = {a.id: a for a in response.context["alerts"]}["alerte-caducite"]
    assert [r[0] for r in alert.table.rows] == [region_line.operation.code]
    assert plain(alert.table.rows[0][6]) == (
        "AP affectée sans mandatement depuis 36 mois : caducité le 20/03/2025"
    )
    before = client.get(url, {"date": "2025-03-19"})
    alert = {a.id: a for a in before.context["alerts"]}["alerte-caducite"]
    assert alert.table.rows == [] and alert.count == 0
    with django_assert_max_num_queries(4):
        selectors.lines_near_caducity(contract=hdf, as_of=D(2025, 3, 20), warn_months=0)


# -- the operation page and the movement form speak each chain's words --------------------------


def test_the_form_offers_affectation_only_on_ap_cp_lines_and_the_page_shows_the_ap(client, hdf):
    op = F.operation(hdf, programmed_on=D(2022, 3, 15))
    region = F.line(op, "region", "1000.00", budget_nature="ap_cp")
    state = F.line(op, "etat", "1000.00", budget_nature="ae_cp")
    F.record(region, "affectation", D(2022, 3, 20), "800.00", reference="CP-2022-01")
    F.record(region, "commitment", D(2022, 4, 1), "500.00", reference="R-1", affect=False)
    F.record(region, "payment", D(2022, 5, 1), "200.00", reference="M-1")
    client.force_login(User.objects.create_user("ap-admin", role=Role.ADMINISTRATOR))

    def kinds(line) -> dict[str, str]:  # type: ignore[no-untyped-def]
        url = reverse(
            "finance:movement_new",
            kwargs={"slug": hdf.slug, "pk": op.pk, "line_pk": line.pk},
        )
        response = client.get(url)
        assert response.status_code == 200
        return dict(response.context["form"].fields["kind"].choices)

    on_region = kinds(region)
    assert on_region["affectation"] == "affectation d'AP"
    assert on_region["desaffectation"] == "désaffectation d'AP"
    assert on_region["payment"] == "mandat (CP mandatés)"
    on_state = kinds(state)
    assert "affectation" not in on_state and "desaffectation" not in on_state
    assert on_state["commitment"] == "engagement juridique (AE engagées)"

    html = plain(
        client.get(
            reverse("operations:detail", kwargs={"slug": hdf.slug, "pk": op.pk})
        ).content.decode()
    )
    assert f'data-testid="affected-{region.pk}">AP affectée : 800,00 €<' in html
    assert f'data-testid="affected-{state.pk}"' not in html
    assert "affectation d&#x27;AP" in html and "mandat (CP mandatés)" in html
    assert "AE engagées, CP payés" in html


def test_the_demo_affects_before_committing_and_keeps_every_invariant():
    for seed in range(200):
        rng = random.Random(seed)
        seq = line_movements(
            amount=100_000_00,
            status=("programmed", "in_progress", "completed", "closed")[seed % 4],
            programmed_on=D(2022, 1, 10),
            today=D(2026, 6, 1),
            rng=rng,
        )
        out = with_affectations(
            seq, amount=100_000_00, programmed_on=D(2022, 1, 10), today=D(2026, 6, 1), rng=rng
        )
        entries = [Entry(kind=k, date=d, amount=Decimal(c) / 100) for k, d, c, _ in out]
        if any(k == "commitment" for k, *_ in out):
            assert out[0][0] == "affectation"
        assert (
            rules.affectation_findings(
                entries=entries, programmed=Decimal("100000.00"), required=True
            )
            == []
        )
        assert rules.ledger_findings(entries=entries, programmed=Decimal("100000.00")) == []
        # the cancellations still name what they cancel
        for k, _, _, cancels in out:
            if cancels is not None:
                assert out[cancels][0] == {"decommitment": "commitment"}.get(k, "payment")


def test_the_contract_check_sees_the_ap_chain(hdf, region_line):
    F.record(region_line, "affectation", D(2022, 3, 20), "300.00", reference="CP-1")
    F.record(region_line, "commitment", D(2022, 4, 1), "300.00", reference="R-1", affect=False)
    assert rules.ledger_breaches(hdf) == []
    assert "engagement-sans-affectation" not in {f.code for f in rules.check_ledger(hdf)}
    # a line committed before its partner required affectations: a warning, not a refusal
    legacy = F.line(F.operation(hdf, programmed_on=D(2022, 3, 15)), "dep-80", "1000.00")
    somme = legacy.partner
    somme.affectation_required = False
    somme.save(update_fields=["affectation_required"])
    F.record(legacy, "commitment", D(2022, 4, 1), "100.00", reference="S-1")
    somme.affectation_required = True
    somme.save(update_fields=["affectation_required"])
    found = {f.code: f for f in rules.check_ledger(hdf)}
    assert found["engagement-sans-affectation"].level == "warning"
    assert plain(found["engagement-sans-affectation"].message).startswith("1 ligne(s)")
    assert rules.ledger_breaches(hdf) == []


def test_each_partners_page_uses_its_own_words(client, hdf):
    client.force_login(User.objects.create_user("words-observer", role=Role.OBSERVER))

    def labels(code: str) -> list[str]:
        url = reverse("web:partner", kwargs={"slug": hdf.slug, "code": code})
        html = client.get(url).content.decode()
        return [plain(x.split("</p>")[0]) for x in html.split('<p class="cper-kpi__label">')[1:]]

    region, state = labels("region"), labels("etat")
    assert "Engagé" in region and "CP mandatés" in region
    assert "AE engagées" in state and "CP payés" in state


def test_a_partners_tables_and_exports_speak_its_words(client, hdf):
    client.force_login(User.objects.create_user("words-export", role=Role.OBSERVER))
    url = reverse("web:partner", kwargs={"slug": hdf.slug, "code": "etat"})
    response = client.get(url)
    charts = {c.table.id: c.table for c in response.context["charts"]}
    labels = [c.label for c in charts["par-axis"].columns]
    assert "AE engagées (€)" in labels and "CP payés (€)" in labels
    csv = client.get(url, {"export": "par-axis", "format": "csv"}).content.decode("utf-8-sig")
    assert "AE engagées (€)" in csv and "Engagé (€)" not in csv

"""What the public sees of the execution: the figures of the published operations alone.

An unpublished operation U (programmed, alone in its département and EPCI, sharing its
objective, partners, marker and status with a published operation P) must not show in anything
the public gets — whatever the filters, groupings and date, through the aggregation service, the
execution export and the API: its amounts change and the public's answer does not; its code and
title appear nowhere. Authorised users keep every figure.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cper.accounts.models import Role
from cper.audit.services import Actor
from cper.finance import aggregation
from cper.finance.aggregation import GROUP_KEYS, UNRESTRICTED, execution
from cper.io.readers import read_file
from cper.operations.models import Operation
from cper.operations.services import financing_line_update
from cper.territories.models import Commune
from tests.finance import factories as F
from tests.operations.factories import make_user

D = dt.date
MARKER = "emploi-formation-orientation"
SECRET_CODE = "U-SECRET"
SECRET_TITLE = "Projet confidentiel de la friche"
SYSTEM = Actor.system()

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _publish(op: Operation) -> None:
    Operation.objects.filter(pk=op.pk).update(published=True)


@pytest.fixture
def scene(hdf: Any) -> dict[str, Any]:
    """P and Q published, U not (see the module's docstring); amounts in euros."""
    p = F.operation(hdf, code="P-PUB", programmed_on=D(2022, 3, 15), markers=(MARKER,))
    q = F.operation(
        hdf,
        code="Q-PUB",
        objective="1.1",
        communes=("80021",),
        status="in_progress",
        programmed_on=D(2023, 6, 10),
    )
    u = F.operation(
        hdf,
        code=SECRET_CODE,
        communes=("02691",),
        programmed_on=D(2022, 6, 1),
        markers=(MARKER,),
    )
    Operation.objects.filter(pk=u.pk).update(title=SECRET_TITLE)
    for op in (p, q):
        _publish(op)
    p_etat, p_region = F.line(p, "etat", "4000.00"), F.line(p, "region", "1000.00")
    q_etat = F.line(q, "etat", "2000.00")
    u_etat, u_region = F.line(u, "etat", "50000.00"), F.line(u, "region", "30000.00")
    F.record(p_etat, "commitment", D(2022, 4, 1), "3000.00")
    F.record(p_etat, "payment", D(2022, 5, 10), "1000.00")
    F.record(p_region, "commitment", D(2022, 6, 1), "1000.00")
    F.record(q_etat, "commitment", D(2023, 7, 1), "2000.00")
    F.record(q_etat, "payment", D(2023, 7, 20), "600.00")
    F.record(u_etat, "commitment", D(2022, 7, 1), "10000.00")
    F.record(u_etat, "payment", D(2022, 9, 1), "2000.00")
    F.record(u_region, "commitment", D(2023, 2, 1), "5000.00")
    return {
        "contract": hdf,
        "p": p,
        "u": u,
        "u_etat": u_etat,
        "u_region": u_region,
        "epci": {
            "U": Commune.objects.get(code="02691").epci_id,
            "P": Commune.objects.get(code="59350").epci_id,
        },
    }


# -- the questions and the changes to U ---------------------------------------------------------

# Filters as (name, value); "U"/"P" stand for the operations' codes, EPCI or id.
FILTERS = [
    ("departement", "02"),
    ("departement", "59"),
    ("departement", ["02", "59"]),
    ("epci", "U"),
    ("epci", "P"),
    ("objective", "2.2"),
    ("objective", "1.1"),
    ("axis", 2),
    ("partner", "etat"),
    ("partner", "region"),
    ("year", 2022),
    ("year", [2022, 2023]),
    ("status", "programmed"),
    ("status", ["in_progress", "programmed"]),
    ("marker", MARKER),
    ("operation", "U"),
    ("operation", ["U", "P"]),
    ("operation", "U-id"),
]
AS_OF = [D(2021, 12, 31), D(2022, 6, 15), D(2022, 12, 31), D(2023, 7, 15), D(2024, 6, 30), None]

group_bys = st.lists(st.sampled_from(GROUP_KEYS), max_size=2, unique=True)
filter_sets = st.lists(st.sampled_from(FILTERS), max_size=3, unique_by=lambda kv: kv[0])
dates = st.sampled_from(AS_OF)
euros = st.integers(min_value=1, max_value=30000).map(lambda n: Decimal(n))
changes = st.one_of(
    st.tuples(st.just("commitment"), euros, st.sampled_from([D(2022, 3, 1), D(2023, 7, 10)])),
    st.tuples(st.just("payment"), euros.map(lambda e: min(e, Decimal(8000))), st.just(None)),
    st.tuples(st.just("amount"), euros.map(lambda e: Decimal(50000) + e), st.just(None)),
    st.tuples(st.just("line"), euros, st.just(None)),
)
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _filters(scene: dict[str, Any], chosen: list[tuple[str, Any]]) -> dict[str, Any]:
    codes = {"U": SECRET_CODE, "P": "P-PUB", "U-id": scene["u"].pk}
    out: dict[str, Any] = {}
    for name, value in chosen:
        if name == "epci":
            value = scene["epci"][value]
        elif name == "operation":
            value = [codes[v] for v in value] if isinstance(value, list) else codes[value]
        out[name] = value
    return out


def _change(scene: dict[str, Any], change: tuple[str, Decimal, dt.date | None]) -> None:
    """Change U's amounts through the services (the caller rolls it back)."""
    kind, amount, day = change
    if kind == "commitment":
        F.record(scene["u_etat"], "commitment", day, amount)
    elif kind == "payment":
        F.record(scene["u_etat"], "payment", D(2024, 3, 1), amount)
    elif kind == "amount":
        financing_line_update(actor=SYSTEM, line=scene["u_etat"], amount=amount)
    else:
        made = F.line(scene["u"], "dep-59", amount)
        F.record(made, "commitment", D(2023, 1, 5), amount)


def _changed(scene: dict[str, Any], change: Any, ask: Any) -> Any:
    """What `ask()` answers once U's amounts have changed; the change is then undone."""
    sid = transaction.savepoint()
    try:
        _change(scene, change)
        return ask()
    finally:
        transaction.savepoint_rollback(sid)


def _figures(result: aggregation.ExecutionResult) -> tuple[Any, ...]:
    def row(r: aggregation.ExecutionRow) -> tuple[Any, ...]:
        return (
            tuple(sorted(r.key.items())),
            tuple(sorted(r.labels.items())),
            r.maquette,
            r.programmed,
            r.committed,
            r.paid,
        )

    return (tuple(row(r) for r in result.rows), row(result.total))


def _names_u(text: str) -> bool:
    # An export's « Filtres » line repeats what the visitor asked (the code it typed): not shown.
    text = "\n".join(line for line in text.splitlines() if not line.startswith("Filtres"))
    return SECRET_CODE in text or SECRET_TITLE in text


# -- the aggregation service --------------------------------------------------------------------


@SETTINGS
@given(group_by=group_bys, chosen=filter_sets, as_of=dates, change=changes)
def test_public_figures_never_move_with_an_unpublished_operation(
    scene: dict[str, Any], group_by: list[str], chosen: list[Any], as_of: Any, change: Any
) -> None:
    filters = _filters(scene, chosen)

    def ask() -> aggregation.ExecutionResult:
        return execution(
            contract=scene["contract"],
            as_of=as_of,
            group_by=group_by,
            filters=filters,
            viewer=None,
        )

    before = ask()
    assert before.published_only
    assert _figures(_changed(scene, change, ask)) == _figures(before)
    assert not any(_names_u(str(r.key) + str(r.labels)) for r in before.rows)


@SETTINGS
@given(group_by=group_bys, chosen=filter_sets, as_of=dates)
def test_public_figures_are_those_of_the_published_operations(
    scene: dict[str, Any], group_by: list[str], chosen: list[Any], as_of: Any
) -> None:
    """The public's amounts, row by row, are the staff's amounts of P and Q alone (read by the
    ledger path, another way than the public's)."""
    filters = _filters(scene, chosen)
    public = execution(
        contract=scene["contract"], as_of=as_of, group_by=group_by, filters=filters, viewer=None
    )
    named = filters.get("operation")
    named = [named] if named is not None and not isinstance(named, list) else named
    published = [c for c in ("P-PUB", "Q-PUB") if named is None or c in named]
    alone = execution(
        contract=scene["contract"],
        as_of=as_of,
        group_by=group_by,
        filters={**filters, "operation": published},
    )

    def amounts(result: aggregation.ExecutionResult) -> dict[Any, tuple[Decimal, ...]]:
        out = {}
        for r in result.rows:
            figures = (r.programmed, r.committed, r.paid)
            if any(figures):
                out[tuple(sorted(r.key.items()))] = figures
        return out

    assert amounts(public) == amounts(alone)
    t, a = public.total, alone.total
    assert (t.programmed, t.committed, t.paid) == (a.programmed, a.committed, a.paid)


@SETTINGS
@given(chosen=filter_sets, as_of=dates, change=changes)
def test_public_series_and_pace_never_move_with_an_unpublished_operation(
    scene: dict[str, Any], chosen: list[Any], as_of: Any, change: Any
) -> None:
    filters = _filters(scene, chosen)
    contract = scene["contract"]
    as_of = as_of or D(2024, 12, 31)

    def ask() -> tuple[Any, Any]:
        return (
            aggregation.execution_series(
                contract=contract, as_of=as_of, filters=filters, viewer=None
            ),
            aggregation.pace(contract=contract, as_of=as_of, filters=filters, viewer=None),
        )

    assert _changed(scene, change, ask) == ask()


def test_the_attacks_of_the_issue_give_nothing_to_the_public(scene: dict[str, Any]) -> None:
    contract = scene["contract"]
    narrowed = {"epci": scene["epci"]["U"], "objective": "2.2", "status": "programmed"}
    staff = execution(contract=contract, filters=narrowed)
    assert (staff.total.programmed, staff.total.committed, staff.total.paid) == (
        Decimal("80000.00"),
        Decimal("15000.00"),
        Decimal("2000.00"),
    )
    for viewer in (None, AnonymousUser(), make_user(Role.PUBLIC)):
        public = execution(contract=contract, filters=narrowed, viewer=viewer)
        assert public.rows == [] and public.published_only
        assert (public.total.programmed, public.total.committed, public.total.paid) == (0, 0, 0)
        by_op = execution(
            contract=contract,
            group_by=("operation",),
            filters={"operation": [SECRET_CODE, scene["u"].pk]},
            viewer=viewer,
        )
        assert by_op.rows == [] and by_op.total.committed == 0


def test_authorised_users_keep_every_figure(scene: dict[str, Any]) -> None:
    contract = scene["contract"]
    whole = execution(contract=contract, group_by=("partner", "operation"))
    assert SECRET_CODE in {r.key["operation"] for r in whole.rows}
    assert not whole.published_only
    for role in (Role.ADMINISTRATOR, Role.INSTRUCTOR, Role.PARTNER_MANAGER, Role.OBSERVER):
        user = make_user(role, "etat" if role == Role.PARTNER_MANAGER else None)
        seen = execution(contract=contract, group_by=("partner", "operation"), viewer=user)
        assert _figures(seen) == _figures(whole)
    public = execution(contract=contract, group_by=("partner",), viewer=None)
    staff = execution(contract=contract, group_by=("partner",), viewer=UNRESTRICTED)
    # The maquette is public and whole; the amounts differ by U's exactly.
    assert [r.maquette for r in public.rows] == [r.maquette for r in staff.rows]
    assert staff.total.committed - public.total.committed == Decimal("15000.00")
    assert staff.total.programmed - public.total.programmed == Decimal("80000.00")


# -- the faces: the execution export and the API -----------------------------------------------


def _export_text(client: Client, contract: Any, fmt: str, params: dict[str, Any]) -> str:
    url = reverse("io:export", kwargs={"slug": contract.slug, "kind": "execution", "fmt": fmt})
    response = client.get(url, params)
    assert response.status_code == 200, response.content[:300]
    if fmt == "csv":
        text = response.content.decode("utf-8-sig")
    else:  # the spreadsheet read back as rows of text
        rows = read_file(response.content, f"x.{fmt}")[0].rows
        text = "\n".join(";".join("" if v is None else str(v) for v in r) for r in rows)
    # the generation time is the only line that may differ between two exports
    return "\n".join(line for line in text.splitlines() if not line.startswith("Généré le"))


def _export_params(group_by: list[str], filters: dict[str, Any], as_of: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"by": ",".join(group_by)} if group_by else {}
    for k, v in filters.items():
        params[k] = [str(x) for x in v] if isinstance(v, list) else str(v)
    if as_of:
        params["as_of"] = as_of.isoformat()
    return params


@SETTINGS
@given(group_by=group_bys, chosen=filter_sets, as_of=dates, change=changes)
def test_public_execution_export_never_shows_an_unpublished_operation(
    scene: dict[str, Any], group_by: list[str], chosen: list[Any], as_of: Any, change: Any
) -> None:
    contract = scene["contract"]
    params = _export_params(group_by, _filters(scene, chosen), as_of)
    client = Client()

    def ask() -> str:
        return _export_text(client, contract, "csv", params)

    before = ask()
    assert not _names_u(before)
    assert "opérations publiées seulement" in before
    assert _changed(scene, change, ask) == before


def test_the_export_of_the_issue_by_operation(scene: dict[str, Any]) -> None:
    """`…/donnees/export/execution.csv?by=operation&operation=U` (and .xlsx), anonymous: no
    row, a zero total; an observer gets U's figures."""
    contract = scene["contract"]
    params = {"by": "operation", "operation": SECRET_CODE}
    for fmt in ("csv", "xlsx"):
        text = _export_text(Client(), contract, fmt, params)
        assert not _names_u(text)
        last = text.splitlines()[-1]
        assert last.startswith("Total") and "15000" not in last
    observer = Client()
    observer.force_login(make_user(Role.OBSERVER))
    seen = _export_text(observer, contract, "csv", params)
    assert SECRET_TITLE in seen and "15000,00" in seen


API = "/api/v1/contracts/{slug}/execution"
API_KEYS = [k for k in GROUP_KEYS if k != "operation"]  # the API keeps that detail for staff


@pytest.fixture
def api_open(settings: Any) -> None:
    settings.CPER_API_RATE_ANONYMOUS = "100000/min"


@SETTINGS
@given(
    group_by=st.lists(st.sampled_from(API_KEYS), max_size=2, unique=True),
    chosen=filter_sets.map(lambda fs: [kv for kv in fs if kv[0] != "operation"]),
    as_of=dates,
    change=changes,
)
def test_public_api_execution_never_shows_an_unpublished_operation(
    scene: dict[str, Any],
    api_open: None,
    group_by: list[str],
    chosen: list[Any],
    as_of: Any,
    change: Any,
) -> None:
    contract = scene["contract"]
    params = _export_params([], _filters(scene, chosen), as_of)
    if group_by:
        params["group_by"] = group_by
    client = Client()

    def ask() -> tuple[int, str]:
        response = client.get(API.format(slug=contract.slug), params)
        return response.status_code, response.content.decode()

    status, before = ask()
    assert status == 200, before[:300]
    assert not _names_u(before)
    assert _changed(scene, change, ask) == (status, before)


def test_the_api_attack_of_the_issue(scene: dict[str, Any], api_open: None) -> None:
    contract = scene["contract"]
    params = {"epci": scene["epci"]["U"], "objective": "2.2", "status": "programmed"}
    body = Client().get(API.format(slug=contract.slug), params).json()
    assert body["results"] == []
    assert (body["total"]["programmed"], body["total"]["committed"]) == ("0.00", "0.00")
    observer = Client()
    observer.force_login(make_user(Role.OBSERVER))  # the API ignores sessions: still public
    assert observer.get(API.format(slug=contract.slug), params).json() == body

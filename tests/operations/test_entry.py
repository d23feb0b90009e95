"""Entering an operation without friction (issue 13, item 4): known owners found by name, SIRET
or commune; a new owner created with the operation, in the same transaction, without losing
what was typed; communes by name or INSEE code; each partner's budget nature by default; the
SIRET's SIREN checked as the SCDL validator checks it."""

from __future__ import annotations

import html as html_text
from decimal import Decimal

import pytest
from django.urls import reverse

from cper.audit.models import AuditEntry
from cper.contracts.models import Objective
from cper.operations.models import FinancingLine, Operation, ProjectOwner
from cper.operations.rules import luhn_check_digit, siret_errors
from tests.operations.factories import make_operation, valid_siret


def url(name: str, hdf, *args) -> str:  # type: ignore[no-untyped-def]
    return reverse(f"operations:{name}", args=[hdf.slug, *args])


@pytest.fixture
def owners(db):  # type: ignore[no-untyped-def]
    return [
        ProjectOwner.objects.create(
            name="Commune d'Amiens", siret="21800019800018", legal_category="commune",
            commune_id="80021",
        ),
        ProjectOwner.objects.create(
            name="Syndicat des eaux de la Somme", siret=valid_siret(5), legal_category="epci",
            commune_id="80001",
        ),
        ProjectOwner.objects.create(
            name="Association Lens Culture", rna="W623000123", legal_category="association",
        ),
    ]  # fmt: skip


def _communes(op: Operation) -> list[str]:
    return list(op.operationcommune_set.order_by("position").values_list("commune_id", flat=True))


def typed(hdf, **kw):  # type: ignore[no-untyped-def]
    """An operation form as an instructor types it, with a new owner."""
    data = {
        "title": "Maison de santé de Doullens",
        "description": "Regroupement de six praticiens",
        "owner_mode": "new",
        "new_owner_name": "Commune de Doullens",
        "new_owner_legal_category": "commune",
        "new_owner_siret": "21800245900012",
        "new_owner_commune": "Doullens",
        "objective": Objective.objects.get(contract=hdf, code="2.3").pk,
        "communes": "Doullens, 80001",
        "cost_ht": "1 200 000,00",
        "cost_base": "ht",
        "physical_progress": "Études en cours",
    }
    data.update(kw)
    return data


# --- the SIRET's SIREN ----------------------------------------------------------------------------


def test_a_siret_whose_siren_is_wrong_is_refused_naming_the_siren() -> None:
    base = "1234567890123"  # SIREN 123 456 789: not Luhn-valid
    siret = base + luhn_check_digit(base)  # the whole number is
    [finding] = siret_errors(siret)
    assert "son SIREN (les 9 premiers chiffres, 123 456 789)" in finding.message
    assert siret_errors("21800019800018") == []
    assert siret_errors("35600000000048") == []  # La Poste's head office


def test_the_owner_page_refuses_a_siret_with_a_wrong_siren(client, hdf, users):  # type: ignore[no-untyped-def]
    client.force_login(users["instructor"])
    base = "1234567890123"
    response = client.post(
        url("owner_create", hdf),
        {"name": "X", "legal_category": "commune", "siret": base + luhn_check_digit(base)},
    )
    assert response.status_code == 400
    assert "son SIREN" in response.content.decode()
    assert not ProjectOwner.objects.exists()


# --- searches -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query,expected",
    [
        ("amiens", ["Commune d'Amiens"]),  # by name, any case
        ("2180 0019", ["Commune d'Amiens"]),  # by the beginning of the SIRET, spaces ignored
        ("Somme eaux", ["Syndicat des eaux de la Somme"]),  # every word
        ("Abbeville", ["Syndicat des eaux de la Somme"]),  # by its commune's name
        ("W623", ["Association Lens Culture"]),  # by RNA number
    ],
)
def test_owner_search_finds_by_name_siret_or_commune(client, hdf, users, owners, query, expected):  # type: ignore[no-untyped-def]
    client.force_login(users["instructor"])
    response = client.get(url("owner_search", hdf), {"q": query}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = html_text.unescape(response.content.decode())
    found = [o.name for o in ProjectOwner.objects.order_by("name") if f">{o.name}<" in html]
    assert found == expected
    assert f"{len(expected)} maître" in html  # the count an aria-live region reads
    assert 'type="radio"' in html and 'name="owner_choice"' in html


def test_owner_search_says_when_nothing_is_known(client, hdf, users, owners):  # type: ignore[no-untyped-def]
    client.force_login(users["instructor"])
    html = client.get(url("owner_search", hdf), {"q": "Zanzibar"}).content.decode()
    assert "Aucun maître d'ouvrage connu pour « Zanzibar »" in html_text.unescape(html)


def test_searches_are_for_those_who_enter_operations(client, hdf, users, owners):  # type: ignore[no-untyped-def]
    assert client.get(url("owner_search", hdf), {"q": "amiens"}).status_code == 302  # login
    client.force_login(users["observer"])
    assert client.get(url("owner_search", hdf), {"q": "amiens"}).status_code == 403
    assert client.get(url("commune_search", hdf), {"q": "amiens"}).status_code == 403


def test_commune_search_by_name_or_code_names_the_departement(client, hdf, users):  # type: ignore[no-untyped-def]
    client.force_login(users["instructor"])
    html = client.get(url("commune_search", hdf), {"q": "Amiens"}).content.decode()
    assert "Amiens (80021) — Somme" in html and 'value="80021"' in html
    html = client.get(url("commune_search", hdf), {"q": "8002"}).content.decode()
    assert "Amiens (80021)" in html
    # A name shared across France: the region's commune first, the others said to be outside.
    html = client.get(url("commune_search", hdf), {"q": "Apremont"}).content.decode()
    assert html.index("(60022)") < html.index("(01011)")
    assert "hors de la région du contrat" in html


# --- creating an operation with its new owner ---------------------------------------------------


def test_an_owner_is_created_inline_with_the_operation(client, hdf, users):  # type: ignore[no-untyped-def]
    client.force_login(users["instructor"])
    response = client.post(url("create", hdf), typed(hdf))
    assert response.status_code == 302, response.content.decode()[:3000]
    op = Operation.objects.get(title="Maison de santé de Doullens")
    owner = op.owner
    assert (owner.name, owner.siret, owner.commune_id) == (
        "Commune de Doullens", "21800245900012", "80253",
    )  # fmt: skip
    assert _communes(op) == ["80253", "80001"]
    assert AuditEntry.objects.filter(action="owner.created").count() == 1
    page = client.get(response["Location"]).content.decode()
    assert "avec son maître d&#x27;ouvrage « Commune de Doullens »" in page


def test_an_error_elsewhere_keeps_every_typed_value_and_writes_nothing(client, hdf, users):  # type: ignore[no-untyped-def]
    client.force_login(users["instructor"])
    before = (Operation.objects.count(), ProjectOwner.objects.count(), AuditEntry.objects.count())
    data = typed(hdf, cost_ht="douze")
    response = client.post(url("create", hdf), data)
    assert response.status_code == 400
    assert "cost_ht" in response.context["form"].errors
    html = response.content.decode()
    for name in ("title", "new_owner_name", "new_owner_siret", "new_owner_commune", "communes"):
        assert f'value="{data[name]}"' in html.replace("&#x27;", "'"), name
    assert "Regroupement de six praticiens" in html and "Études en cours" in html
    new_mode = html.split('value="new"')[1].split(">")[0]
    assert "checked" in new_mode  # "Un nouveau maître d'ouvrage" still chosen
    assert (
        Operation.objects.count(),
        ProjectOwner.objects.count(),
        AuditEntry.objects.count(),
    ) == before


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("new_owner_siret", "21800245900013", "clé de contrôle"),
        ("new_owner_siret", "21800019800018", "déjà celui de « Commune d&#x27;Amiens »"),
        ("new_owner_name", "", "le nom du maître d&#x27;ouvrage est obligatoire"),
        ("new_owner_commune", "Nulle-Part", "commune inconnue : Nulle-Part"),
    ],
)
def test_a_wrong_new_owner_is_refused_on_its_field(
    client, hdf, users, owners, field, value, message
):  # type: ignore[no-untyped-def]
    client.force_login(users["instructor"])
    before = (Operation.objects.count(), ProjectOwner.objects.count())
    response = client.post(url("create", hdf), typed(hdf, **{field: value}))
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert message in response.content.decode()
    assert (Operation.objects.count(), ProjectOwner.objects.count()) == before


def test_a_known_owner_is_still_required_when_none_is_created(client, hdf, users):  # type: ignore[no-untyped-def]
    client.force_login(users["instructor"])
    response = client.post(url("create", hdf), typed(hdf, owner_mode="known"))
    assert response.status_code == 400
    assert "owner_identifier" in response.context["form"].errors
    assert not ProjectOwner.objects.exists()


def test_without_javascript_a_search_re_renders_the_form_and_its_choice_is_used(
    client, hdf, users, owners
):  # type: ignore[no-untyped-def]
    client.force_login(users["instructor"])
    data = typed(hdf, owner_mode="known", owner_q="amiens", search="owner", cost_ht="douze")
    response = client.post(url("create", hdf), data)
    assert response.status_code == 200  # a search, not a refusal: nothing is checked yet
    html = response.content.decode()
    assert "fr-input-group--error" not in html
    assert 'name="owner_choice" value="21800019800018"' in html
    assert 'value="Maison de santé de Doullens"' in html
    assert not Operation.objects.exists()
    data = typed(hdf, owner_mode="known", owner_choice="21800019800018", search="")
    data["communes"] = "Doullens"
    data["commune_pick"] = ["80021"]  # a commune ticked in a commune search
    response = client.post(url("create", hdf), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    op = Operation.objects.get()
    assert op.owner == owners[0]
    assert _communes(op) == ["80253", "80021"]


# --- communes by name ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed_communes,codes",
    [
        ("Amiens", ["80021"]),
        ("amiens, 80001", ["80021", "80001"]),
        ("80021 80001", ["80021", "80001"]),  # codes separated by spaces, as before
        ("Apremont", ["60022"]),  # the only Apremont of the region
        ("Beaurieux (59)", ["59062"]),
        ("Amiens (80021)", ["80021"]),
    ],
)
def test_communes_by_name_or_code(client, hdf, users, owners, typed_communes, codes):  # type: ignore[no-untyped-def]
    client.force_login(users["instructor"])
    data = typed(hdf, owner_mode="known", owner_identifier="21800019800018")
    data["communes"] = typed_communes
    response = client.post(url("create", hdf), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    op = Operation.objects.get()
    assert (
        list(op.operationcommune_set.order_by("position").values_list("commune_id", flat=True))
        == codes
    )


def test_an_ambiguous_commune_lists_its_candidates_with_their_departement(
    client, hdf, users, owners
):  # type: ignore[no-untyped-def]
    client.force_login(users["instructor"])
    data = typed(hdf, owner_mode="known", owner_identifier="21800019800018", communes="Beaurieux")
    response = client.post(url("create", hdf), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "« Beaurieux » désigne plusieurs communes" in html
    assert "Beaurieux (02058, Aisne)" in html and "Beaurieux (59062, Nord)" in html
    assert not Operation.objects.exists()


def test_the_edit_page_accepts_commune_names_and_offers_no_new_owner(client, hdf, users, owners):  # type: ignore[no-untyped-def]
    op = make_operation(hdf, owner=owners[0], communes=("80021",))
    client.force_login(users["instructor"])
    page = client.get(url("edit", hdf, op.pk)).content.decode()
    assert "Nouveau maître d&#x27;ouvrage" not in page
    data = typed(hdf, owner_identifier="21800019800018", communes="Abbeville")
    data["objective"] = op.objective_id
    response = client.post(url("edit", hdf, op.pk), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert list(op.operationcommune_set.values_list("commune_id", flat=True)) == ["80001"]


# --- a financing line's defaults ----------------------------------------------------------------


@pytest.mark.parametrize("partner,nature", [("etat", "ae_cp"), ("region", "ap_cp")])
def test_a_line_takes_its_partners_budget_nature_by_default(client, hdf, users, partner, nature):  # type: ignore[no-untyped-def]
    op = make_operation(hdf)
    client.force_login(users["admin"])
    response = client.post(
        url("line_add", hdf, op.pk),
        {
            "financer_kind": "partner",
            "partner": hdf.partners.get(code=partner).pk,
            "objective": op.objective_id,
            "amount": "1 000",
            "contractualised": "on",
            "budget_nature": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert FinancingLine.objects.get().budget_nature == nature


def test_a_partner_manager_finds_its_partner_preselected(client, hdf, users):  # type: ignore[no-untyped-def]
    op = make_operation(hdf)
    client.force_login(users["nord"])
    response = client.get(url("line_add", hdf, op.pk))
    form = response.context["form"]
    nord = hdf.partners.get(code="dep-59")
    assert (form["partner"].value(), form["budget_nature"].value()) == (nord.pk, nord.budget_nature)
    assert "AE/CP pour l'État, AP/CP pour les collectivités" in html_text.unescape(
        response.content.decode()
    )


def test_only_a_partner_line_is_contractualised(client, hdf, users):  # type: ignore[no-untyped-def]
    op = make_operation(hdf)
    client.force_login(users["admin"])
    response = client.post(
        url("line_add", hdf, op.pk),
        {
            "financer_kind": "eu_fund",
            "financer_label": "FEDER",
            "objective": op.objective_id,
            "amount": "1 000",
            "contractualised": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    line = FinancingLine.objects.get()
    assert (line.contractualised, line.amount) == (False, Decimal("1000.00"))


def test_the_form_names_the_known_owner_its_siret_designates(client, hdf, users, owners):  # type: ignore[no-untyped-def]
    client.force_login(users["instructor"])
    data = typed(hdf, owner_mode="known", owner_identifier="218 000 198 00018", cost_ht="douze")
    response = client.post(url("create", hdf), data)
    assert response.status_code == 400
    assert "Choisi : Commune d'Amiens" in html_text.unescape(response.content.decode())

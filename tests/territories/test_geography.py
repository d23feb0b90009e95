from django.urls import reverse

from cper.audit.actions import AuditAction
from cper.audit.models import AuditEntry
from cper.audit.services import Actor
from cper.territories.models import Commune, Departement, Epci, Region
from cper.territories.services import geography_load


def test_geography_is_france_wide_and_links_communes(db):
    assert Region.objects.filter(code="32").get().name == "Hauts-de-France"
    assert Region.objects.filter(code="84").exists()  # not only Hauts-de-France
    nord = Departement.objects.get(code="59")
    assert nord.region_id == "32" and nord.siren == "225900018"
    lille = Commune.objects.select_related("epci").get(code="59350")
    assert lille.epci.name == "Métropole Européenne de Lille"
    assert lille.population > 200_000
    assert Commune.objects.count() > 34_000 and Epci.objects.count() > 1_200


def test_reloading_geography_changes_nothing(db):
    before = Commune.objects.count(), Epci.objects.count()
    report = geography_load()
    assert (Commune.objects.count(), Epci.objects.count()) == before
    assert report.communes == before[0]


def test_loading_the_geography_is_audited(db):
    before = AuditEntry.objects.count()
    report = geography_load(actor=Actor.cli())
    entry = AuditEntry.objects.latest("id")
    assert AuditEntry.objects.count() == before + 1
    assert (entry.action, entry.via, entry.subject_type) == (
        AuditAction.GEOGRAPHY_LOADED,
        "cli",
        "territories.geography",
    )
    assert entry.changes["communes"]["après"] == report.communes


def test_the_admin_of_territories_is_read_only(client, admin_user):
    client.force_login(admin_user)
    assert client.get(reverse("admin:territories_commune_changelist")).status_code == 200
    assert client.get(reverse("admin:territories_projectterritory_add")).status_code == 403
    change = reverse("admin:territories_region_change", args=["32"])
    client.post(change, {"code": "32", "name": "Picardie", "chef_lieu": "80021", "siren": ""})
    assert Region.objects.get(code="32").name == "Hauts-de-France"

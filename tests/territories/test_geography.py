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

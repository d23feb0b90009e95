from django.urls import reverse


def test_contract_page_shows_axes_objectives_shares_and_signatories(client, hdf):
    response = client.get(reverse("web:contract", args=[hdf.slug]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Contrat de plan État-Région Hauts-de-France 2021-2027" in html
    assert "Conduite partagée de l’action publique" in html
    assert "57,3\u00a0%" in html
    assert "Métropole Européenne de Lille" in html and "225900018" in html
    assert "<svg" in html  # the shares chart, drawn on the server
    assert 'lang="fr"' in html


def test_home_lands_on_the_only_contracts_dashboard(client, hdf):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("web:dashboard", args=[hdf.slug])


def test_unknown_contract_is_a_404(client, db):
    assert client.get("/contrats/inconnu/").status_code == 404

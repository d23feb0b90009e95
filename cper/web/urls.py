"""URLs of the web pages (French paths)."""

from django.urls import path

from cper.web.views import dashboard, focus, programmes, scopes, state, territories, workspace

app_name = "web"

urlpatterns = [
    path("", dashboard.home, name="home"),
    path("contrats/<slug:slug>/", dashboard.contract_detail, name="contract"),
    path("contrats/<slug:slug>/tableau-de-bord/", dashboard.dashboard, name="dashboard"),
    path("contrats/<slug:slug>/axes/<int:number>/", scopes.axis_detail, name="axis"),
    path("contrats/<slug:slug>/objectifs/<str:code>/", scopes.objective_detail, name="objective"),
    path("contrats/<slug:slug>/partenaires/<slug:code>/", scopes.partner_detail, name="partner"),
    path("contrats/<slug:slug>/territoires/", territories.territories, name="territories"),
    path(
        "contrats/<slug:slug>/territoires/departements/<str:code>/",
        territories.departement_detail,
        name="departement",
    ),
    path(
        "contrats/<slug:slug>/territoires/epci/<str:siren>/", territories.epci_detail, name="epci"
    ),
    path(
        "contrats/<slug:slug>/territoires/projets/<slug:code>/",
        territories.project_territory_detail,
        name="project_territory",
    ),
    path("contrats/<slug:slug>/emploi-formation-orientation/", focus.focus, name="focus"),
    path("contrats/<slug:slug>/espace-partenaire/", workspace.workspace, name="workspace"),
    path("contrats/<slug:slug>/etat-et-operateurs/", state.state_operators, name="state_operators"),
    path(
        "contrats/<slug:slug>/execution-par-programme/",
        programmes.programme_execution,
        name="programmes",
    ),
    path(
        "contrats/<slug:slug>/execution-par-programme/ae/nouvelle/",
        programmes.ae_new,
        name="ae_new",
    ),
]

"""URLs of the web pages (French paths)."""

from django.urls import path

from cper.web import views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("contrats/<slug:slug>/", views.contract_detail, name="contract"),
    path("contrats/<slug:slug>/tableau-de-bord/", views.dashboard, name="dashboard"),
    path("contrats/<slug:slug>/axes/<int:number>/", views.axis_detail, name="axis"),
    path("contrats/<slug:slug>/objectifs/<str:code>/", views.objective_detail, name="objective"),
    path("contrats/<slug:slug>/partenaires/<slug:code>/", views.partner_detail, name="partner"),
    path("contrats/<slug:slug>/territoires/", views.territories, name="territories"),
    path(
        "contrats/<slug:slug>/territoires/departements/<str:code>/",
        views.departement_detail,
        name="departement",
    ),
    path("contrats/<slug:slug>/territoires/epci/<str:siren>/", views.epci_detail, name="epci"),
    path(
        "contrats/<slug:slug>/territoires/projets/<slug:code>/",
        views.project_territory_detail,
        name="project_territory",
    ),
    path("contrats/<slug:slug>/emploi-formation-orientation/", views.focus, name="focus"),
]

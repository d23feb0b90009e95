"""Pages of the operations app, mounted under /contrats/<slug>/operations/ (see cper/urls.py)."""

from django.urls import path

from cper.operations import views, views_partner_decisions

app_name = "operations"

urlpatterns = [
    path("", views.operation_list, name="list"),
    path("nouvelle/", views.operation_create, name="create"),
    path("maitres-ouvrage/nouveau/", views.owner_create, name="owner_create"),
    path("maitres-ouvrage/recherche/", views.owner_search, name="owner_search"),
    path("communes/recherche/", views.commune_search, name="commune_search"),
    path("comites/", views.committee_list, name="committees"),
    path("comites/<int:pk>/", views.committee_detail, name="committee"),
    path("comites/<int:pk>/releve/", views.committee_minutes, name="committee_minutes"),
    path("<int:pk>/", views.operation_detail, name="detail"),
    path("<int:pk>/modifier/", views.operation_edit, name="edit"),
    path("<int:pk>/statut/", views.operation_transition_view, name="transition"),
    path("<int:pk>/historique/", views.operation_history, name="history"),
    path("<int:pk>/financements/ajouter/", views.line_add, name="line_add"),
    path("<int:pk>/financements/<int:line_pk>/modifier/", views.line_edit, name="line_edit"),
    path("<int:pk>/financements/<int:line_pk>/annuler/", views.line_cancel, name="line_cancel"),
    # issue 12: partners' decisions
    path(
        "<int:pk>/financements/<int:line_pk>/decision/",
        views_partner_decisions.partner_decision_new,
        name="partner_decision_new",
    ),
    path(
        "<int:pk>/decisions-financeurs/<int:decision_pk>/acte/",
        views_partner_decisions.partner_decision_document,
        name="partner_decision_document",
    ),
]

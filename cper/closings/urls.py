"""Pages of the app, mounted under /contrats/<slug>/arretes/ (see cper/urls.py)."""

from django.urls import path

from cper.closings import views

app_name = "closings"

urlpatterns = [
    path("", views.closing_list, name="list"),
    path("<int:pk>/", views.closing_detail, name="detail"),
    path("<int:pk>/rapprochement/", views.closing_reconciliation, name="reconciliation"),
    path("<int:pk>/bilan.<str:fmt>", views.closing_report, name="report"),
    path("comites/<int:pk>/dossier.pdf", views.committee_pack, name="committee_pack"),
]

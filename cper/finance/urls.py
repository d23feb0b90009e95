"""Pages of the ledger, mounted beside the operations' pages under
/contrats/<slug>/operations/ (see cper/urls.py)."""

from django.urls import path

from cper.finance import views

app_name = "finance"

urlpatterns = [
    path(
        "<int:pk>/financements/<int:line_pk>/mouvement/",
        views.movement_new,
        name="movement_new",
    ),
]

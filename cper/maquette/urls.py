"""Pages of the maquette app, mounted under /contrats/<slug>/maquette/ (see cper/urls.py)."""

from django.urls import path

from cper.maquette import views

app_name = "maquette"

urlpatterns = [
    path("", views.index, name="index"),
    path("avenants/", views.amendments, name="amendments"),
    path("avenants/<int:number>/", views.amendment, name="amendment"),
    path("ecarts/", views.diff, name="diff"),
]

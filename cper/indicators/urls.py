"""Pages of the app, mounted under /contrats/<slug>/indicateurs/ (see cper/urls.py)."""

from django.urls import path

from cper.indicators import views

app_name = "indicators"

urlpatterns = [
    path("", views.catalogue_page, name="catalogue"),
    path("operations/<int:pk>/valeur/", views.value_new, name="value_new"),
]

"""Pages of the maquette app, mounted under /contrats/<slug>/ (see cper/urls.py)."""

from django.urls import path  # noqa: F401

app_name = "maquette"

urlpatterns: list = []  # type: ignore[type-arg]

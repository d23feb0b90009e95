"""Pages of the app, mounted under /contrats/<slug>/previsions/ (see cper/urls.py)."""

from django.urls import path  # noqa: F401

app_name = "forecasts"

urlpatterns: list = []

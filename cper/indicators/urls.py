"""Pages of the app, mounted under /contrats/<slug>/indicateurs/ (see cper/urls.py)."""

from django.urls import path  # noqa: F401

app_name = "indicators"

urlpatterns: list = []

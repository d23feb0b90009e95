"""Pages of the app, mounted under /contrats/<slug>/arretes/ (see cper/urls.py)."""

from django.urls import path  # noqa: F401

app_name = "closings"

urlpatterns: list = []

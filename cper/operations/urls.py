"""Pages of the operations app, mounted under /contrats/<slug>/ (see cper/urls.py)."""

from django.urls import path  # noqa: F401

app_name = "operations"

urlpatterns: list = []  # type: ignore[type-arg]

"""The project's URLs plus the API token pages at /compte/ (as the lead includes them)."""

from django.urls import include, path

from cper.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("compte/", include("cper.api.web_urls")),
    *project_urlpatterns,
]

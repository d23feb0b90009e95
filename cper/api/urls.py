"""The REST API (django-ninja), mounted under /api/v1/ (see cper/urls.py).

Every path under /api/v1/ answers in JSON, an unknown one included (404 with the error body).
"""

from django.urls import path, re_path

from cper.api.main import api
from cper.api.views import api_index, api_not_found

app_name = "api"

urlpatterns = [
    path("", api_index, name="index"),
    *api.urls[0],
    re_path(r"^.*$", api_not_found, name="not-found"),
]

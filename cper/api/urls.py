"""The REST API (django-ninja), mounted under /api/v1/."""

app_name = "api"

urlpatterns: list = []  # type: ignore[type-arg]

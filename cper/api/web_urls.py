"""Pages of the API app, meant to be included at /compte/ (see cper/urls.py)."""

from django.urls import path

from cper.api import views

app_name = "api_web"

urlpatterns = [
    path("jetons/", views.tokens, name="tokens"),
    path("jetons/<int:token_id>/revoquer/", views.token_revoke_view, name="token-revoke"),
]

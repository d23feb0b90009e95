"""ProConnect's routes, under /proconnect/ (cper.accounts.oidc). The names of the first two are
mozilla-django-oidc's defaults, which its views reverse."""

from django.urls import path

from cper.accounts import oidc

urlpatterns = [
    path("connexion/", oidc.ProConnectLoginView.as_view(), name="oidc_authentication_init"),
    path("retour/", oidc.ProConnectCallbackView.as_view(), name="oidc_authentication_callback"),
    path("deconnecte/", oidc.logged_out, name="proconnect_logged_out"),
]

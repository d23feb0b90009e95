"""Top-level URL map: the web pages, the API and the admin are faces over the same services.

Each domain app mounts its own pages under /contrats/<slug>/… with its own namespace. `/sante`
is the health endpoint; the error pages are French DSFR pages (cper.server.errors).
"""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from cper.accounts import oidc
from cper.server.health import health

handler400 = "cper.server.errors.bad_request"
handler500 = "cper.server.errors.server_error"

urlpatterns = [
    path("sante", health, name="health"),
    path("admin/", admin.site.urls),
    path("connexion/", auth_views.LoginView.as_view(), name="login"),
    path("deconnexion/", oidc.LogoutView.as_view(), name="logout"),
    path("proconnect/", include("cper.accounts.urls")),
    path("api/v1/", include("cper.api.urls")),
    path("compte/", include("cper.api.web_urls")),
    path("contrats/<slug:slug>/maquette/", include("cper.maquette.urls")),
    path("contrats/<slug:slug>/operations/", include("cper.operations.urls")),
    path("contrats/<slug:slug>/operations/", include("cper.finance.urls")),
    path("contrats/<slug:slug>/donnees/", include("cper.io.urls")),
    path("contrats/<slug:slug>/arretes/", include("cper.closings.urls")),
    path("contrats/<slug:slug>/indicateurs/", include("cper.indicators.urls")),
    path("contrats/<slug:slug>/previsions/", include("cper.forecasts.urls")),
    path("", include("cper.web.urls")),
]

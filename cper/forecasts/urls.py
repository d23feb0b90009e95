"""Pages of the app, mounted under /contrats/<slug>/previsions/ (see cper/urls.py)."""

from django.urls import path

from cper.forecasts import views

app_name = "forecasts"

urlpatterns = [
    path("", views.forecasts_page, name="page"),
    path("lignes/<int:line_pk>/echeancier/", views.schedule_edit, name="schedule_edit"),
]

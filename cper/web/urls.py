"""URLs of the web pages (French paths)."""

from django.urls import path

from cper.web import views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("contrats/<slug:slug>/", views.contract_detail, name="contract"),
]

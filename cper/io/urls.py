"""Pages of the io app, mounted under /contrats/<slug>/donnees/ (see cper/urls.py)."""

from django.urls import path

from cper.io import views

app_name = "io"

urlpatterns = [
    path("", views.index, name="index"),
    path("import/", views.import_upload, name="import_upload"),
    path("import/<int:pk>/simulation/", views.import_preview, name="import_preview"),
    path("import/<int:pk>/etat/", views.import_status, name="import_status"),
    path("import/<int:pk>/confirmer/", views.import_confirm, name="import_confirm"),
    path("import/<int:pk>/", views.import_log, name="import_log"),
    path("import/<int:pk>/rejets.xlsx", views.import_rejects, name="import_rejects"),
    path("import/modele-<str:kind>.xlsx", views.import_template, name="import_template"),
    path("export/scdl.csv", views.export_scdl, name="export_scdl"),
    path("export/datapackage.zip", views.export_datapackage, name="export_datapackage"),
    path("export/<str:kind>.<str:fmt>", views.export, name="export"),
    path("export/<str:kind>.<str:fmt>/preparer/", views.export_prepare, name="export_prepare"),
    path("exports/<uuid:pk>/", views.export_job, name="export_job"),
    path("exports/<uuid:pk>/etat/", views.export_job_status, name="export_job_status"),
    path("exports/<uuid:pk>/fichier/", views.export_download, name="export_download"),
]

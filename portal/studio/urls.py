"""The process studio, mounted at /studio/ (/studio/incidents/ belongs to portal.incidents)."""
from django.urls import path

from . import new_views, views

urlpatterns = [
    path("", views.process_list, name="studio"),
    path("new/", new_views.new_process, name="studio-new"),
    path("import/", views.import_file, name="studio-import"),
    path("import-archive/", views.import_archive, name="studio-import-archive"),
    path("<slug:key>/v<int:version>/", views.version_page, name="studio-version"),
    path("<slug:key>/v<int:version>/diagram/", views.version_diagram, name="studio-diagram"),
    path("<slug:key>/v<int:version>/export/", views.export, name="studio-export"),
    path("<slug:key>/v<int:version>/archive/", views.export_archive, name="studio-archive"),
    path("<slug:key>/edit/", views.edit, name="studio-edit"),
    path("<slug:key>/save/", views.save, name="studio-save"),
    path("<slug:key>/discard/", views.discard, name="studio-discard"),
    path("<slug:key>/deploy/", views.deploy, name="studio-deploy"),
    path("<slug:key>/diff/", views.diff, name="studio-diff"),
    path("<slug:key>/migrate/", views.migrate, name="studio-migrate"),
]

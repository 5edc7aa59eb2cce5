"""The process studio, mounted at /studio/ (/studio/incidents/ belongs to portal.incidents)."""
from django.urls import path

from . import form_views, new_views, testrun_views, views

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
    path("<slug:key>/forms/<str:element>/", form_views.form_editor, name="studio-form"),
    path("<slug:key>/forms/<str:element>/save/", form_views.save_form, name="studio-form-save"),
    path("<slug:key>/forms/<str:element>/preview/", form_views.preview_form, name="studio-form-preview"),
    path("<slug:key>/diff/", views.diff, name="studio-diff"),
    path("<slug:key>/migrate/", views.migrate, name="studio-migrate"),
    path("<slug:key>/test/", testrun_views.page, name="studio-test"),
    path("<slug:key>/test/start/", testrun_views.start, name="studio-test-start"),
    path("<slug:key>/test/restart/", testrun_views.restart, name="studio-test-restart"),
    path("<slug:key>/test/clock/", testrun_views.jump, name="studio-test-clock"),
    path("<slug:key>/test/diagram/", testrun_views.diagram, name="studio-test-diagram"),
    path("<slug:key>/test/tasks/<uuid:task_id>/", testrun_views.task, name="studio-test-task"),
]

from django.urls import path

from . import views

urlpatterns = [
    path("minors/", views.minors_audit, name="audit-minors"),
    path("minors/export.xlsx", views.minors_audit_xlsx, name="audit-minors-xlsx"),
    path("history/", views.history, name="audit-history"),
]

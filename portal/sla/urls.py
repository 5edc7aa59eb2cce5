"""Mounted by portal/urls.py under sla/."""
from django.urls import path

from . import views

urlpatterns = [
    path("", views.report, name="sla-report"),
    path("export.xlsx", views.report_xlsx, name="sla-report-xlsx"),
    path("calendar/", views.calendar, name="sla-calendar"),
    path("calendar/remove/", views.calendar_remove, name="sla-calendar-remove"),
]

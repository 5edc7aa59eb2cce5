"""Mounted by portal/urls.py under studio/incidents/."""
from django.urls import path

from . import views

urlpatterns = [
    path("", views.incident_list, name="incidents"),
    path("<int:instance_id>/retry/", views.retry, name="incident-retry"),
    path("<int:instance_id>/cancel/", views.cancel, name="incident-cancel"),
    path("messages/", views.message_list, name="undelivered"),
    path("messages/<int:message_id>/retry/", views.message_retry, name="undelivered-retry"),
]

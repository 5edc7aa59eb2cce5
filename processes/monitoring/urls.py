from django.urls import path

from . import views

urlpatterns = [
    path("monitoring/", views.household_list, name="monitoring"),
    path("monitoring/list.xlsx", views.export, name="monitoring-export"),
    path("monitoring/import/", views.import_list, name="monitoring-import"),
    path("monitoring/rules/", views.rules_page, name="monitoring-rules"),
    path("monitoring/<int:household_id>/", views.household_page, name="monitoring-household"),
]

from django.urls import path

from . import views

urlpatterns = [
    path("households/", views.household_list, name="households"),
    path("households/<int:household_id>/", views.household_page, name="household"),
    path("resources/gaps/", views.gaps_report, name="resource-gaps"),
]

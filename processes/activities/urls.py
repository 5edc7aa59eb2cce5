from django.urls import path

from . import views

urlpatterns = [
    path("activities/", views.activity_list, name="activities"),
    path("activities/groups/", views.roster_list, name="activity-rosters"),
    path("activities/groups/<int:roster_id>/", views.roster_page, name="activity-roster"),
]

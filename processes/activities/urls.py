from django.urls import path

from . import views

urlpatterns = [
    path("activities/", views.activity_list, name="activities"),
    path("activities/<int:activity_id>/", views.activity_page, name="activity"),
    path("activities/<int:activity_id>/photos/<str:token>/", views.activity_photo, name="activity-photo"),
    path("activities/groups/", views.roster_list, name="activity-rosters"),
    path("activities/groups/<int:roster_id>/", views.roster_page, name="activity-roster"),
]

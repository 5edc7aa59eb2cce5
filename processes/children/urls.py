from django.urls import path

from . import views

urlpatterns = [
    path("children/", views.child_list, name="children"),
    path("children/contacts/", views.contacts_due, name="children-contacts"),
    path("children/<int:child_id>/", views.child_page, name="children-child"),
    path("children/<int:child_id>/edit/", views.child_edit, name="children-child-edit"),
    path("children/<int:child_id>/photos/<str:token>/", views.child_photo, name="children-photo"),
    path("children/groups/", views.group_list, name="children-groups"),
    path("children/groups/<int:group_id>/", views.group_page, name="children-group"),
]

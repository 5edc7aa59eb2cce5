"""URL configuration. The portal's pages arrive with the inbox; the admin is here for operators."""
from django.contrib import admin
from django.urls import path

urlpatterns = [
    path("admin/", admin.site.urls),
]

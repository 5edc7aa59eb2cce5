from django.urls import path

from . import views

urlpatterns = [path("home-visits/", views.visit_list, name="home-visits")]

from django.urls import path

from . import views

urlpatterns = [
    path("fund/", views.fund_page, name="fund"),
    path("fund/export.xlsx", views.fund_export, name="fund-export"),
]

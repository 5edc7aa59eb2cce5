from django.urls import path

from . import views

urlpatterns = [
    path("elderly/", views.register, name="elderly-register"),
    path("elderly/report/", views.report, name="elderly-report"),
    path("elderly/report.xlsx", views.report_export, name="elderly-report-export"),
    path("elderly/<int:person_id>/", views.person_page, name="elderly-person"),
    path("elderly/<int:person_id>/screen/", views.start_screening, name="elderly-screen"),
]

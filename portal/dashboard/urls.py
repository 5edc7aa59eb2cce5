from django.urls import path

from . import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("targets/", views.targets, name="dashboard-targets"),
    path("export.xlsx", views.export_xlsx, name="dashboard-xlsx"),
    path("report.pdf", views.export_pdf, name="dashboard-pdf"),
]

"""URL configuration of the portal."""
import importlib.util

from django.apps import apps
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from portal.accounts import views as accounts
from portal.cases import access
from portal.cases import views as cases
from portal.dashboard import views as dashboard
from portal.inbox import views as inbox
from portal.notifications import views as notifications
from portal.operations import views as operations

urlpatterns = [
    path("healthz", operations.healthz, name="healthz"),
    path("readyz", operations.readyz, name="readyz"),
    path("metrics", operations.metrics, name="metrics"),
    path("", inbox.inbox, name="inbox"),
    path("tasks/<int:task_id>/", inbox.task_page, name="task"),
    path("tasks/<int:task_id>/claim/", inbox.claim, name="task-claim"),
    path("tasks/<int:task_id>/release/", inbox.release, name="task-release"),
    path("tasks/<int:task_id>/assign/", inbox.assign, name="task-assign"),
    path("cases/<int:instance_id>/", cases.case_page, name="case"),
    path("cases/<int:instance_id>/diagram/", cases.case_diagram, name="case-diagram"),
    path("cases/<int:instance_id>/share/", cases.share, name="case-share"),
    path("cases/<int:instance_id>/access/", access.case_access, name="case-access"),
    path("records/<slug:kind>/<int:record_id>/access/", access.record_access, name="record-access"),
    path("access/requests/", access.access_requests, name="access-requests"),
    path("access/requests/<int:request_id>/decide/", access.decide, name="access-decide"),
    path("audit/", include("portal.audit.urls")),
    path("year/", include("portal.dashboard.urls")),
    path("villages/<slug:code>/", dashboard.village_page, name="village"),
    path("search/", dashboard.search, name="search"),
    path("sla/", include("portal.sla.urls")),
    path("files/<str:token>/", cases.attachment, name="attachment"),
    path("start/", cases.start_list, name="start"),
    path("start/<slug:key>/", cases.start_form, name="start-form"),
    path("notifications/", notifications.notification_list, name="notifications"),
    path("studio/incidents/", include("portal.incidents.urls")),
    path("language/", accounts.set_language, name="set-language"),
    path("accounts/login/", auth_views.LoginView.as_view(template_name="portal/login.html"), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/2fa/", accounts.otp_enrol, name="otp-enrol"),
    path("accounts/2fa/verify/", accounts.otp_verify, name="otp-verify"),
    path("admin/", admin.site.urls),
    path("studio/", include("portal.studio.urls")),  # studio/incidents/ is portal.incidents'
]

# Each process package may bring its own pages (processes/<name>/urls.py), mounted at the root.
for app in apps.get_app_configs():
    if app.name.startswith("processes.") and importlib.util.find_spec(f"{app.name}.urls"):
        urlpatterns.append(path("", include(f"{app.name}.urls")))

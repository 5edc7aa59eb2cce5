from django.utils.translation import gettext_lazy as _

from engine.process_app import ProcessApp


class ChildProtectionApp(ProcessApp):
    verbose_name = _("Child protection")
    roles = {"civil_affairs": _("Civil-affairs office")}
    demo_users = (("civil", "civil_affairs", "民政办 刘洋", None),)
    minors_files = True  # every report is about a child: need-to-know access (ADR 0020)

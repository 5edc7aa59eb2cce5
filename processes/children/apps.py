from django.utils.translation import pgettext_lazy

from engine.process_app import NavEntry, ProcessApp


class ChildrenApp(ProcessApp):
    """Children in difficulty (left-behind children, children with anxiety or social difficulties):
    a growth archive per child, individual case management (intake, assessment, plan, services,
    closure) and group work with pre/post screening. Every file here is a minor's (ADR 0020)."""

    verbose_name = pgettext_lazy("children", "Children in difficulty")
    minors_files = True  # every case is about a child: need-to-know access (ADR 0020)
    nav = (NavEntry("children", pgettext_lazy("children", "Children"), frozenset({"worker", "supervisor", "admin"})),)

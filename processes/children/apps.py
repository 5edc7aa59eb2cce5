from django.utils.translation import pgettext_lazy

from engine.process_app import NavEntry, ProcessApp


class ChildrenApp(ProcessApp):
    """Children in difficulty (left-behind children, children with anxiety or social difficulties):
    a growth archive per child, individual case management (intake, assessment, plan, services,
    closure) and group work with pre/post screening. Every file here is a minor's (ADR 0020)."""

    verbose_name = pgettext_lazy("children", "Children in difficulty")
    minors_files = True  # every case is about a child: need-to-know access (ADR 0020)
    # A joint home visit is a task of the partner office it names (ADR 0031): its own small diagram,
    # sharing the archive's records. A partner office sees only the tasks addressed to it.
    also_processes = ("children_joint_visit",)
    roles = {"partner_office": pgettext_lazy("children", "Partner office")}
    involvement_only_roles = frozenset({"partner_office"})
    # The offices that make joint home visits: their user group -> the kind of visit and how they are named.
    settings_defaults = {"CHILDREN_JOINT_VISIT_OFFICES": {
        "prov-edu": {"kind": "visit_school", "label": "县教育局（学校）"},
        "prov-women": {"kind": "visit_women", "label": "乡妇联"},
    }}
    demo_users = (("women_office", "partner_office", "乡妇联 联络员", None),)
    nav = (NavEntry("children", pgettext_lazy("children", "Children"), frozenset({"worker", "supervisor", "admin"})),)

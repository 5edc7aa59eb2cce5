from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from engine import selectors

from .models import Visit


@login_required
def visit_list(request):
    if not selectors.roles_of(request.user) & {"visitor", "supervisor"}:
        raise PermissionDenied
    return render(request, "home_visits/list.html", {"visits": Visit.objects.order_by("-pk")[:50]})

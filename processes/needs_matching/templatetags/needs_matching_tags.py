"""How the matching pages write capacities and fit: 40 places, 80,000.00 yuan, fit 1.3."""
from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def capacity(resource, value) -> str:
    return resource.capacity_text(value)


@register.filter
def score(value) -> str:
    return f"{Decimal(str(value)):.2f}".rstrip("0").rstrip(".")

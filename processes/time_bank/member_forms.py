"""The time bank's page forms: registering a member, the supervisor's decision, a relative, and
the movements of hours a worker or supervisor records on a passbook."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from engine import clock, registry

from .ledger import CONSENT_SKEW
from .models import ConsentHow, Member, MemberKind, Relation

PERSON_KEY = re.compile(r"^elderly_care:\d+$")


class MemberForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=MemberKind.choices, widget=forms.RadioSelect)
    village = forms.ChoiceField(label=_("Village"))
    name = forms.CharField(label=pgettext_lazy("time bank", "Name"), max_length=50)
    phone = forms.CharField(label=_("Phone (if any)"), max_length=20, required=False)
    birth_year = forms.IntegerField(label=_("Year of birth"), min_value=1900)
    household = forms.CharField(label=_("Household (number or door plate)"), max_length=40, required=False)
    identity_checked = forms.BooleanField(label=_("Identity card checked"), required=False)
    training_date = forms.DateField(label=_("Training date (volunteers)"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    training_topic = forms.CharField(label=_("Training (volunteers)"), max_length=100, required=False)

    def __init__(self, *args, user, village_choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["village"].choices = village_choices
        people = registry.option_source("elderly_people", user)
        if people is None:  # the elderly-care process is not installed: the key is typed, or left out
            self.fields["person_key"] = forms.CharField(
                label=_("Elderly-care record (elderly_care:<number>, if any)"), max_length=64, required=False)
        else:
            self.fields["person_key"] = forms.ChoiceField(label=_("Elderly-care record (if any)"), required=False,
                                                          choices=[("", "—"), *people])

    def clean_birth_year(self):
        year = self.cleaned_data["birth_year"]
        if year > clock.today().year:
            raise forms.ValidationError(_("A year of birth cannot be in the future."))
        return year

    def clean_training_date(self):
        day = self.cleaned_data.get("training_date")
        if day and day > clock.today():
            raise forms.ValidationError(_("A training date cannot be in the future."))
        return day

    def clean_person_key(self):
        key = (self.cleaned_data.get("person_key") or "").strip()
        if key and not PERSON_KEY.match(key):
            raise forms.ValidationError(_("Write it as elderly_care: and the record's number, e.g. elderly_care:12."))
        if key and Member.objects.filter(person_key=key).exists():
            raise forms.ValidationError(_("This person is already a member."))
        return key

    def clean(self):
        data = super().clean()
        if data.get("kind") == MemberKind.VOLUNTEER:
            if not data.get("training_date"):
                self.add_error("training_date", _("A volunteer is registered with the training they had."))
            if not data.get("training_topic"):
                self.add_error("training_topic", _("A volunteer is registered with the training they had."))
            year = data.get("birth_year")
            if year and clock.today().year - year < int(settings.TIME_BANK["min_volunteer_age"]):
                self.add_error("birth_year", _("Volunteers must be %(age)s or older.") % {"age": settings.TIME_BANK["min_volunteer_age"]})
        return data


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(label=_("Decision"), choices=[("approve", _("Approve")), ("refuse", _("Refuse"))])
    note = forms.CharField(label=pgettext_lazy("time bank", "Note"), max_length=300, required=False)


class RelativeForm(forms.Form):
    relative = forms.ChoiceField(label=_("Relative (a member)"))
    relation = forms.ChoiceField(label=pgettext_lazy("time bank", "Relation"), choices=Relation.choices)

    def __init__(self, *args, relative_choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["relative"].choices = relative_choices


HOURS_FIELD = {"min_value": Decimal("0.01"), "max_digits": 8, "decimal_places": 2}


class HoursForm(forms.Form):
    """Expire (and, with the member's consent, give away): how many hours and why."""
    hours = forms.DecimalField(label=_("Hours"), **HOURS_FIELD)
    note = forms.CharField(label=_("Reason"), max_length=300, required=False)


CONSENT_LOOKBACK = dt.timedelta(days=365)  # dates of what happened go back a year at most


class GiftForm(HoursForm):
    """Give a member's hours away (to a relative, to the pool): the hours are the member's, so the
    worker records how and when the member agreed."""
    field_order = ["receiver", "hours", "consent_how", "consent_at", "note"]
    consent_how = forms.ChoiceField(label=_("How the member agreed"), choices=[("", "—"), *ConsentHow.choices])
    consent_at = forms.DateTimeField(label=_("When the member agreed"), input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
                                     widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))

    def clean_consent_at(self):
        moment = self.cleaned_data["consent_at"]
        now = clock.now()
        if moment > now + CONSENT_SKEW:
            raise forms.ValidationError(_("The member's consent cannot be in the future."))
        if moment < now - CONSENT_LOOKBACK:
            raise forms.ValidationError(_("The consent must be from the last year; ask the member again."))
        return moment


class TransferForm(GiftForm):
    receiver = forms.ChoiceField(label=_("To the relative"))

    def __init__(self, *args, receiver_choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["receiver"].choices = receiver_choices


class ReasonForm(forms.Form):
    note = forms.CharField(label=_("Reason"), max_length=300)


class LoginForm(forms.Form):
    """Give an approved volunteer their own sign-in: a new account, or one that exists already (a
    volunteer's account from before, holding no staff role) linked by its username."""
    username = forms.CharField(label=_("Existing account (username, if any)"), max_length=150, required=False)


class StatusForm(forms.Form):
    """A supervisor suspends, withdraws or reinstates an approved member, saying why."""
    action = forms.ChoiceField(label=_("Decision"), choices=[
        ("suspend", _("Suspend")), ("withdraw", _("Withdraw (final)")), ("reinstate", _("Approve again"))])
    note = forms.CharField(label=_("Reason"), max_length=300)

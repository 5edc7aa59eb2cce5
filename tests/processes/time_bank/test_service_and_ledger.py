"""The time bank's service case and its ledger: a confirmed service deposits the volunteer's hours and
the elder pays for it; caps and anomalies send it to the supervisor first; the ledger never goes
negative, is never edited, and is put right only by reversal entries."""
from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from engine import api, registry, selectors
from engine.errors import FormInvalid
from engine.models import HumanTask
from processes.time_bank import ledger
from processes.time_bank.models import LedgerEntry, Relative

from . import flows
from .flows import balance, moment

pytestmark = pytest.mark.django_db


@pytest.fixture
def bank(deployed, users):
    worker, supervisor = users["worker"], users["supervisor"]
    return {
        "worker": worker, "supervisor": supervisor,
        "volunteer": flows.member("volunteer", by=worker, name="志愿者甲", household="DS-101"),
        "volunteer2": flows.member("volunteer", by=worker, name="志愿者乙", household="DS-102"),
        "elder": flows.member("elder", by=worker, name="老人甲", birth_year=1940, household="DS-201"),
        "elder2": flows.member("elder", by=worker, name="老人乙", birth_year=1938, household="DS-202"),
    }


def kinds(member) -> list[tuple[str, Decimal, Decimal]]:
    return [(e.kind, e.hours, e.balance_after) for e in LedgerEntry.objects.filter(account__member=member).order_by("pk")]


def test_a_confirmed_service_deposits_the_volunteers_hours_and_the_elder_pays_with_their_own(bank):
    flows.give_hours(bank["elder"], 5, bank["worker"])
    instance_id = flows.service(bank["worker"], bank["elder"], bank["volunteer"], moment(1, 9), moment(1, 11, 30), paid_with="own")
    session = flows.session_of(instance_id)
    assert (session.hours, session.credited_hours, session.status, session.review_reasons) == (Decimal("2.50"), Decimal("2.50"), "deposited", [])
    assert kinds(bank["volunteer"]) == [("deposit", Decimal("2.50"), Decimal("2.50"))]
    assert kinds(bank["elder"]) == [("deposit", Decimal("5.00"), Decimal("5.00")), ("redeem", Decimal("-2.50"), Decimal("2.50"))]
    assert api.get_instance(instance_id=instance_id, viewer=api.SYSTEM).status == "completed"
    assert session.number in api.get_instance(instance_id=instance_id, viewer=api.SYSTEM).subject


def test_the_ledger_never_goes_negative(bank):
    flows.give_hours(bank["elder"], 1, bank["worker"])
    instance_id = flows.request(bank["worker"], bank["elder"], bank["volunteer"])
    flows.serve(instance_id, bank["worker"], moment(1, 9), moment(1, 11))
    with pytest.raises(FormInvalid) as refused:
        flows.confirm(instance_id, bank["worker"], paid_with="own")
    assert "1.00" in str(refused.value.field_errors["paid_with"][0])
    # Nothing was written: the task is still open, no hours moved, the volunteer got nothing.
    assert HumanTask.objects.filter(instance_id=instance_id, bpmn_id="Task_Confirm", status="open").exists()
    assert balance(bank["elder"]) == Decimal("1.00") and balance(bank["volunteer"]) == 0
    with pytest.raises(ledger.LedgerRefused):
        ledger.redeem(ledger.account_of(bank["elder"]), "1.01", session=flows.session_of(instance_id), actor=bank["worker"])
    with pytest.raises(ledger.LedgerRefused):
        ledger.donate(bank["elder"], 2, actor=bank["worker"], consent=flows.consent())
    # And the database refuses a negative balance whatever code writes it.
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(account=ledger.account_of(bank["elder"]), kind="expire", hours=Decimal("-2"),
                                   balance_after=Decimal("-1"), note="x", at=flows.moment(0, 0))
    # Paid from the pool instead, the service goes through.
    flows.confirm(instance_id, bank["worker"], paid_with="free")
    assert balance(bank["volunteer"]) == Decimal("2.00")


def test_hours_buy_services_only(bank):
    flows.give_hours(bank["elder"], 3, bank["worker"])
    with pytest.raises(ledger.LedgerRefused):
        ledger.redeem(ledger.account_of(bank["elder"]), 1, session=None, actor=bank["worker"])
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(account=ledger.account_of(bank["elder"]), kind="redeem", hours=Decimal("-1"),
                                   balance_after=Decimal("2"), note="cash", at=flows.moment(0, 0))


def test_ledger_entries_are_never_changed_or_deleted(bank):
    flows.give_hours(bank["elder"], 3, bank["worker"])
    entry = LedgerEntry.objects.get()
    entry.hours = Decimal("300")
    with pytest.raises(ValueError):
        entry.save()
    with pytest.raises(ValueError):
        LedgerEntry.objects.filter(pk=entry.pk).update(hours=Decimal("300"))
    with pytest.raises(ValueError):
        LedgerEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(ValueError):
        entry.delete()


@pytest.mark.postgres
def test_the_database_refuses_update_and_delete_of_ledger_entries(bank):
    flows.give_hours(bank["elder"], 3, bank["worker"])
    entry = LedgerEntry.objects.get()
    for statement in ("UPDATE time_bank_ledgerentry SET hours = 300, balance_after = 300 WHERE id = %s",
                      "DELETE FROM time_bank_ledgerentry WHERE id = %s"):
        with pytest.raises(Exception, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [entry.pk])
    assert LedgerEntry.objects.get().hours == Decimal("3.00")


def test_above_the_visit_cap_the_supervisor_reviews_before_anything_is_deposited(bank):
    flows.give_hours(bank["elder"], 10, bank["worker"])
    instance_id = flows.service(bank["worker"], bank["elder"], bank["volunteer"], moment(1, 8), moment(1, 13), paid_with="own")
    session = flows.session_of(instance_id)
    assert (session.status, session.review_reasons, session.hours) == ("in_review", ["visit_cap"], Decimal("5.00"))
    assert balance(bank["volunteer"]) == 0
    review = [t for t in selectors.tasks_for_user(bank["supervisor"]) if t.instance_id == instance_id]
    assert [t.bpmn_id for t in review] == ["Task_Review"]
    assert not [t for t in selectors.tasks_for_user(bank["worker"]) if t.instance_id == instance_id]
    # The supervisor credits four of the five hours: the volunteer gets 4, the elder's payment is put right.
    flows.complete(instance_id, "Task_Review", bank["supervisor"], {"decision": "reduce", "credited_hours": "4", "comment": "午休一小时不计"})
    assert kinds(bank["volunteer"]) == [("deposit", Decimal("4.00"), Decimal("4.00"))]
    assert [k for k, _h, _b in kinds(bank["elder"])] == ["deposit", "redeem", "reversal", "redeem"]
    assert balance(bank["elder"]) == Decimal("6.00")
    assert flows.session_of(instance_id).credited_hours == Decimal("4.00")


def test_a_reduction_must_be_between_nothing_and_what_was_served(bank):
    instance_id = flows.service(bank["worker"], bank["elder"], bank["volunteer"], moment(1, 8), moment(1, 13))
    for hours in ("5", "0", ""):
        with pytest.raises(FormInvalid):
            flows.complete(instance_id, "Task_Review", bank["supervisor"], {"decision": "reduce", "credited_hours": hours, "comment": "x"}
                           if hours else {"decision": "reduce", "comment": "x"})
    assert balance(bank["volunteer"]) == 0


def test_the_supervisor_may_credit_nothing(bank):
    flows.give_hours(bank["elder"], 10, bank["worker"])
    instance_id = flows.service(bank["worker"], bank["elder"], bank["volunteer"], moment(1, 8), moment(1, 14), paid_with="own")
    flows.complete(instance_id, "Task_Review", bank["supervisor"], {"decision": "refuse", "comment": "签到记录不实"})
    assert balance(bank["volunteer"]) == 0 and balance(bank["elder"]) == Decimal("10.00")
    assert flows.session_of(instance_id).status == "refused"


def test_above_the_day_cap_the_second_service_of_the_day_is_reviewed(bank):
    first = flows.service(bank["worker"], bank["elder"], bank["volunteer"], moment(1, 8), moment(1, 11))
    second = flows.service(bank["worker"], bank["elder2"], bank["volunteer"], moment(1, 11, 30), moment(1, 14, 30))
    third = flows.service(bank["worker"], bank["elder"], bank["volunteer"], moment(1, 15), moment(1, 18))
    assert [flows.session_of(i).status for i in (first, second)] == ["deposited", "deposited"]
    assert flows.session_of(third).review_reasons == ["day_cap"]
    assert balance(bank["volunteer"]) == Decimal("6.00")
    # The day before does not count towards this day.
    flows.service(bank["worker"], bank["elder2"], bank["volunteer2"], moment(2, 15), moment(2, 18))
    assert flows.session_of(flows.service(bank["worker"], bank["elder2"], bank["volunteer2"], moment(1, 8), moment(1, 12))).review_reasons == []


def test_overlapping_sessions_of_one_volunteer_are_flagged(bank):
    flows.service(bank["worker"], bank["elder"], bank["volunteer"], moment(2, 9), moment(2, 11))
    overlapping = flows.service(bank["worker"], bank["elder2"], bank["volunteer"], moment(2, 10), moment(2, 12))
    apart = flows.service(bank["worker"], bank["elder2"], bank["volunteer"], moment(2, 14), moment(2, 15))
    assert flows.session_of(overlapping).flags == ["overlap"] and flows.session_of(overlapping).status == "in_review"
    assert flows.session_of(apart).flags == []


def test_serving_ones_own_household_is_flagged(bank, users):
    neighbour_in_the_same_house = flows.member("volunteer", by=bank["worker"], household=" ds-201 ")
    instance_id = flows.service(bank["worker"], bank["elder"], neighbour_in_the_same_house, moment(1, 9), moment(1, 10))
    assert flows.session_of(instance_id).flags == ["own_household"]
    assert balance(neighbour_in_the_same_house) == 0


def test_the_same_pair_almost_every_day_is_flagged_on_the_fifth_day(bank):
    sessions = [flows.service(bank["worker"], bank["elder"], bank["volunteer"], moment(days_ago, 9), moment(days_ago, 10))
                for days_ago in (6, 5, 4, 3, 2)]
    assert [flows.session_of(i).flags for i in sessions] == [[], [], [], [], ["same_pair"]]
    # Another volunteer for the same elder is not the same pair.
    other = flows.service(bank["worker"], bank["elder"], bank["volunteer2"], moment(1, 9), moment(1, 10))
    assert flows.session_of(other).flags == []


def test_a_service_the_elder_does_not_confirm_credits_nothing(bank):
    instance_id = flows.service(bank["worker"], bank["elder"], bank["volunteer"], moment(1, 9), moment(1, 10), confirmed="no")
    assert flows.session_of(instance_id).status == "not_confirmed"
    assert LedgerEntry.objects.count() == 0
    assert api.get_instance(instance_id=instance_id, viewer=api.SYSTEM).status == "completed"


def test_sign_out_must_follow_sign_in(bank):
    instance_id = flows.request(bank["worker"], bank["elder"], bank["volunteer"])
    with pytest.raises(FormInvalid) as refused:
        flows.serve(instance_id, bank["worker"], moment(1, 11), moment(1, 9))
    assert "signed_out_at" in refused.value.field_errors


def test_only_approved_members_of_the_elders_village_serve_and_nobody_serves_themselves(bank):
    pending = flows.member("volunteer", by=bank["worker"], approved=False)
    elsewhere = flows.member("volunteer", by=bank["worker"], village="xishui")
    instance_id = api.start_instance(process_key="time_bank", actor=bank["worker"], data={
        "elder": str(bank["elder"].pk), "item": "errands", "requested_by": "proxy"}).id
    for volunteer in (pending, elsewhere):
        with pytest.raises(FormInvalid):
            flows.complete(instance_id, "Task_Match", bank["worker"], {"volunteer": str(volunteer.pk)})
    offered = {value for value, _label in registry.option_source("time_bank_volunteers", bank["worker"], {"time_bank_session": flows.session_of(instance_id).pk})}
    assert offered == {str(bank["volunteer"].pk), str(bank["volunteer2"].pk)}
    # A pending elder cannot be served; a worker cannot start a service for another village's elder.
    with pytest.raises(FormInvalid):
        api.start_instance(process_key="time_bank", actor=bank["worker"], data={
            "elder": str(flows.member("elder", by=bank["worker"], approved=False).pk), "item": "errands", "requested_by": "elder"})
    with pytest.raises(FormInvalid):
        api.start_instance(process_key="time_bank", actor=bank["worker"], data={
            "elder": str(flows.member("elder", by=bank["worker"], village="xishui").pk), "item": "errands", "requested_by": "elder"})


def test_above_the_balance_cap_the_excess_goes_to_the_pool(bank, settings):
    settings.TIME_BANK = {**settings.TIME_BANK, "balance_cap_hours": "10"}
    flows.give_hours(bank["volunteer"], 9, bank["worker"])
    flows.service(bank["worker"], bank["elder"], bank["volunteer"], moment(1, 9), moment(1, 12))
    assert balance(bank["volunteer"]) == Decimal("10.00")
    assert ledger.balance(ledger.pool()) == Decimal("2.00")


def test_hours_go_only_to_a_registered_relative(bank):
    flows.give_hours(bank["volunteer"], 6, bank["worker"])
    with pytest.raises(ledger.LedgerRefused):
        ledger.transfer(bank["volunteer"], bank["elder"], 2, actor=bank["worker"], consent=flows.consent())
    Relative.objects.create(member=bank["volunteer"], relative=bank["elder"], relation="parent", recorded_by=bank["worker"],
                            recorded_at=flows.moment(0, 0))
    ledger.transfer(bank["volunteer"], bank["elder"], 2, actor=bank["worker"], consent=flows.consent(), note="给母亲")
    assert balance(bank["volunteer"]) == Decimal("4.00") and balance(bank["elder"]) == Decimal("2.00")
    with pytest.raises(ledger.LedgerRefused):
        ledger.transfer(bank["volunteer"], bank["elder"], 5, actor=bank["worker"], consent=flows.consent())
    ledger.donate(bank["volunteer"], 1, actor=bank["worker"], consent=flows.consent())
    ledger.expire(ledger.account_of(bank["volunteer"]), 1, actor=bank["supervisor"], note="三年未使用")
    assert kinds(bank["volunteer"])[1:] == [("transfer_out", Decimal("-2.00"), Decimal("4.00")), ("donate", Decimal("-1.00"), Decimal("3.00")),
                                            ("expire", Decimal("-1.00"), Decimal("2.00"))]
    assert ledger.balance(ledger.pool()) == Decimal("1.00")


def test_a_reversal_is_a_new_entry_undoing_the_whole_movement_once(bank):
    flows.give_hours(bank["volunteer"], 6, bank["worker"])
    Relative.objects.create(member=bank["volunteer"], relative=bank["elder"], relation="parent", recorded_by=bank["worker"],
                            recorded_at=flows.moment(0, 0))
    out, _in = ledger.transfer(bank["volunteer"], bank["elder"], 2, actor=bank["worker"], consent=flows.consent())
    reversal = ledger.reverse(out, actor=bank["supervisor"], note="误转")
    assert [(e.kind, e.hours, e.reverses_id) for e in reversal] == [("reversal", Decimal("2.00"), out.pk), ("reversal", Decimal("-2.00"), _in.pk)]
    assert balance(bank["volunteer"]) == Decimal("6.00") and balance(bank["elder"]) == 0
    assert LedgerEntry.objects.get(pk=out.pk).hours == Decimal("-2.00")  # the original is untouched
    with pytest.raises(ledger.LedgerRefused):
        ledger.reverse(_in, actor=bank["supervisor"], note="again")
    with pytest.raises(ledger.LedgerRefused):
        ledger.reverse(reversal[0], actor=bank["supervisor"], note="undo the undo")
    with pytest.raises(ledger.LedgerRefused):
        ledger.reverse(out, actor=bank["supervisor"], note="  ")


def test_a_reversal_that_would_leave_a_negative_balance_is_refused(bank):
    flows.give_hours(bank["volunteer"], 3, bank["worker"])
    deposit = LedgerEntry.objects.get()
    ledger.donate(bank["volunteer"], 2, actor=bank["worker"], consent=flows.consent())
    with pytest.raises(ledger.LedgerRefused):
        ledger.reverse(deposit, actor=bank["supervisor"], note="虚报")
    assert balance(bank["volunteer"]) == Decimal("1.00")


def test_an_elders_page_elsewhere_shows_the_balance_to_those_who_may_read_it(bank, users):
    bank["elder"].person_key = "elderly_care:7"
    bank["elder"].save(update_fields=["person_key"])
    flows.give_hours(bank["elder"], Decimal("3.5"), bank["worker"])
    facts = dict(registry.person_facets("elderly_care:7", users["worker"]))
    assert "3.50" in facts["Time-bank balance"]
    assert registry.person_facets("elderly_care:7", users["worker_xishui"]) == []
    assert registry.person_facets("elderly_care:7", users["intake"]) == []
    assert registry.person_facets("elderly_care:8", users["supervisor"]) == []
    assert dict(registry.person_facets(f"time_bank:{bank['elder'].pk}", users["supervisor"]))["Time-bank balance"] == facts["Time-bank balance"]


@pytest.mark.django_db(transaction=True)  # threads: each confirmation has its own connection and sees only committed rows
@pytest.mark.postgres
def test_two_redemptions_racing_for_the_last_hours_exactly_one_commits(bank):
    """Two services of one elder confirmed at the same moment, each paid with the elder's last 2 hours."""
    flows.give_hours(bank["elder"], 2, bank["worker"])
    cases = [flows.request(bank["worker"], bank["elder"], volunteer) for volunteer in (bank["volunteer"], bank["volunteer2"])]
    for instance_id in cases:
        flows.serve(instance_id, bank["worker"], moment(1, 9), moment(1, 11))
    barrier = threading.Barrier(2)
    outcomes = []

    def confirm(instance_id):
        try:
            barrier.wait()
            flows.confirm(instance_id, bank["worker"], paid_with="own")
            outcomes.append("paid")
        except FormInvalid as exc:
            outcomes.append(str(exc.field_errors["paid_with"][0]))
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm, args=(i,)) for i in cases]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert outcomes.count("paid") == 1 and len(outcomes) == 2, outcomes
    assert balance(bank["elder"]) == 0
    assert LedgerEntry.objects.filter(kind="redeem").count() == 1
    assert balance(bank["volunteer"]) + balance(bank["volunteer2"]) == Decimal("2.00")


def test_a_confirmation_says_who_confirmed_and_how_the_service_is_paid(bank):
    instance_id = flows.request(bank["worker"], bank["elder"], bank["volunteer"])
    flows.serve(instance_id, bank["worker"], moment(1, 9), moment(1, 10))
    with pytest.raises(FormInvalid) as refused:
        flows.complete(instance_id, "Task_Confirm", bank["worker"], {"confirmed": "yes"})
    assert set(refused.value.field_errors) == {"confirmed_by", "paid_with"}
    assert LedgerEntry.objects.count() == 0


def test_a_case_cancelled_during_review_gives_the_elder_the_hours_back(bank):
    flows.give_hours(bank["elder"], 10, bank["worker"])
    instance_id = flows.service(bank["worker"], bank["elder"], bank["volunteer"], moment(1, 8), moment(1, 13), paid_with="own")
    assert balance(bank["elder"]) == Decimal("5.00")
    api.cancel_instance(instance_id=instance_id, actor=bank["supervisor"], reason="重复登记")
    assert balance(bank["elder"]) == Decimal("10.00") and balance(bank["volunteer"]) == 0
    assert flows.session_of(instance_id).status == "cancelled"

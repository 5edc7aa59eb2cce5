"""A form that names one elder reads that elder, not the register: a township's register runs to
thousands, and every screening, visit or time-bank request sent with an elder used to decrypt the
first 3,000 names of the viewer's villages — and refused any elder past them."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from engine import api
from engine.errors import FormInvalid
from processes.elderly_care.models import ElderlyPerson

pytestmark = pytest.mark.django_db


def test_an_elder_past_the_first_3000_can_be_screened_and_the_register_is_not_read(deployed, users):
    ElderlyPerson.objects.bulk_create([ElderlyPerson(code=f"EC-R-{n:05d}", village="dongshan", birth_year=1950, sex="male",
                                                     name=f"老人{n}", living="alone") for n in range(3005)])
    last = ElderlyPerson.objects.order_by("village", "code").last()
    with CaptureQueriesContext(connection) as queries:
        info = api.start_instance(process_key="elderly_care", actor=users["worker"], data={"purpose": "screening", "person": last.person_key})
    assert info.id
    register_reads = [q["sql"] for q in queries.captured_queries
                      if "elderly_care_elderlyperson" in q["sql"] and q["sql"].lstrip().upper().startswith("SELECT") and "LIMIT 3000" in q["sql"]]
    assert not register_reads


def test_an_elder_of_another_village_is_still_refused(deployed, users):
    stranger = ElderlyPerson.objects.create(code="EC-X-00001", village="xishui", birth_year=1950, sex="male", name="外村老人", living="alone")
    with pytest.raises(FormInvalid):
        api.start_instance(process_key="elderly_care", actor=users["worker"], data={"purpose": "screening", "person": stranger.person_key})
    with pytest.raises(FormInvalid):
        api.start_instance(process_key="elderly_care", actor=users["worker"], data={"purpose": "screening", "person": "elderly_care:99999999999999999999"})

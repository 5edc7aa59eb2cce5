"""The fund page for a worker bound to villages: the fund's totals (public money, nothing personal)
are labelled as the whole fund's, and the projects, the money by category and village and the ledger
are theirs only and say so — no fund-wide total beside a bare "—" for the rows they may not see."""
from io import BytesIO

import pytest
from django.test import Client
from openpyxl import load_workbook

from tests.conftest import make_user

from .flows import apply, join, make_organisation, run_to_completion
from .test_micro_fund import people  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db

SCOPE = 'data-testid="fund-scope"'


def _client(user) -> Client:
    client = Client()
    client.cookies["django_language"] = "en"
    client.force_login(user)
    return client


@pytest.fixture
def funded(people):  # noqa: F811 (the fixture imported above)
    """A closed project in Dongshan (4,200 spent, committed) and one applying in Xishui (nothing committed)."""
    run_to_completion(people, people["org"])
    xishui = make_organisation(name="西水村妇女之家", village="xishui")
    apply(join(make_user("applicant_xs", "applicant", villages=None), xishui), xishui, title="西水文化节", village="xishui")
    return people


def test_a_village_bound_worker_sees_the_whole_funds_totals_labelled_and_only_their_villages_rows(funded):
    client = _client(funded["worker_xishui"])
    html = client.get("/fund/").content.decode()
    figures, rows = html[:html.index(SCOPE)], html[html.index(SCOPE):]
    assert "The whole fund (all villages)" in figures and "4,200.00" in figures  # Dongshan's money, in the total
    notice = rows[:rows.index("</p>")]
    assert "your villages only: 西水村." in notice
    assert "Projects by stage in 西水村" in rows and "西水文化节" in rows
    assert "垃圾分类与环境整治" not in rows and "4,200.00" not in rows  # the Dongshan project is not theirs
    assert "Nothing committed in your villages yet." in rows and "<td>—</td>" not in rows
    # The workbook says the same: the whole fund's summary, their villages named.
    summary = list(load_workbook(BytesIO(client.get("/fund/export.xlsx").content)).worksheets[0].iter_rows(values_only=True))
    assert summary[-1] == ("Projects and ledger of", "西水村")


def test_a_township_wide_viewer_sees_every_project_and_no_village_label(funded):
    html = _client(funded["supervisor"]).get("/fund/").content.decode()
    assert SCOPE not in html and "The whole fund (all villages)" not in html
    assert "Projects by stage" in html and "垃圾分类与环境整治" in html and "西水文化节" in html

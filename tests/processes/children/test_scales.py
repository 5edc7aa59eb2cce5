"""The pre/post computation on admin-edited scales: planted scores give the expected change, in the
scale's own direction and cut-off; a score outside the scale's range or not whole is refused."""
import pytest

from processes.children import scales
from processes.children.models import Scale


def scale(direction="lower_better", low=0, high=40, cutoff=25):
    return Scale(name="儿童焦虑量表", items=20, min_score=low, max_score=high, cutoff=cutoff, direction=direction)


def test_a_lower_is_better_scale_reads_a_drop_as_improvement():
    s = scale()
    table = scales.rows(s, [scales.ChildChange(1, "甲", 30, 20), scales.ChildChange(2, "乙", 18, 22),
                            scales.ChildChange(3, "丙", 26, 26), scales.ChildChange(4, "丁", 24, None)])
    assert [(r.change, r.outcome, r.risk_pre, r.risk_post) for r in table] == [
        (-10, 1, True, False), (4, -1, False, False), (0, 0, True, True), (None, None, False, None)]
    summary = scales.summary(table)
    assert (summary.screened_both, summary.improved, summary.worse, summary.same) == (3, 1, 1, 1)
    assert (str(summary.mean_pre), str(summary.mean_post), str(summary.mean_change)) == ("24.7", "22.7", "-2.0")
    assert (summary.at_risk_pre, summary.at_risk_post) == (2, 1)


def test_a_higher_is_better_scale_reads_the_same_scores_the_other_way():
    s = scale("higher_better", 0, 100, 60)
    table = scales.rows(s, [scales.ChildChange(1, "甲", 50, 70), scales.ChildChange(2, "乙", 80, 55)])
    assert [(r.change, r.outcome, r.risk_pre, r.risk_post) for r in table] == [(20, 1, True, False), (-25, -1, False, True)]


@pytest.mark.parametrize("raw", ["", "abc", "-1", "41", "2.5", "1e9", "=HYPERLINK(\"x\")", "NaN", "Infinity"])
def test_a_score_must_be_whole_and_within_the_scales_range(raw):
    with pytest.raises(ValueError):
        scales.check_score(scale(), raw)


def test_the_chart_marks_the_cut_off_and_escapes_names():
    s = scale()
    svg = scales.chart_svg(s, scales.rows(s, [scales.ChildChange(1, "<b>甲", 30, 20)]))
    assert svg.startswith("<svg") and "&lt;b&gt;甲" in svg and "<b>" not in svg and "25" in svg
    assert scales.chart_svg(s, []) == ""

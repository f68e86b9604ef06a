"""One source for what Python and the map page both show: statuses, colours, compass, thresholds, ages."""

import re
from pathlib import Path

import pytest

from cartrack_desktop.domain import presentation as pr
from cartrack_desktop.domain.dispatch import PRIORITIES
from cartrack_desktop.domain.geo import COMPASS_POINTS, compass_point
from cartrack_desktop.domain.models import UnitStatus
from cartrack_desktop.ui.formatting import fmt_age
from cartrack_desktop.view.fleet_view import FixState, fix_state

pytestmark = pytest.mark.unit

PAGE_JS = Path(__file__).resolve().parents[2] / "resources" / "map"
HEX_COLOR = re.compile(r"#[0-9a-f]{6}\Z")


def test_the_page_config_carries_every_status_in_order_with_label_and_colour():
    statuses = pr.page_values()["statuses"]
    assert [s["name"] for s in statuses] == [s.value for s in UnitStatus]
    assert [s["label"] for s in statuses] == [s.label for s in UnitStatus]
    assert [s["color"] for s in statuses] == [pr.STATUS_COLORS[s] for s in UnitStatus]
    assert all(HEX_COLOR.match(s["color"]) for s in statuses)
    assert HEX_COLOR.match(pr.page_values()["staleColor"]) and pr.STALE_COLOR not in pr.STATUS_COLORS.values()


def test_every_priority_has_a_colour_and_the_page_gets_them_all():
    assert set(pr.PRIORITY_COLORS) == set(PRIORITIES)
    assert pr.page_values()["priorityColors"] == {str(p): pr.PRIORITY_COLORS[p] for p in PRIORITIES}


def test_compass_points_are_geos_and_the_page_gets_them():
    assert pr.page_values()["compass"] == list(COMPASS_POINTS)
    assert len(COMPASS_POINTS) == 16
    assert [compass_point(i * 22.5) for i in range(16)] == list(COMPASS_POINTS)


def test_fade_and_stale_thresholds_drive_the_fix_states_and_reach_the_page():
    values = pr.page_values()
    assert values["fadeAfterS"] == pr.FADE_AFTER_S and values["staleAfterS"] == pr.STALE_AFTER_S
    assert pr.FADE_AFTER_S < pr.STALE_AFTER_S
    assert fix_state(pr.FADE_AFTER_S - 0.01) is FixState.LIVE
    assert fix_state(pr.FADE_AFTER_S) is FixState.FADED
    assert fix_state(pr.STALE_AFTER_S - 0.01) is FixState.FADED
    assert fix_state(pr.STALE_AFTER_S) is FixState.STALE


@pytest.mark.parametrize(("age_s", "text"), [
    (None, "no fix"), (0.0, "now"), (0.99, "now"), (1.0, "1 s"), (89.4, "89 s"), (90.0, "2 min"),
    (3599.0, "60 min"), (3600.0, "1.0 h"), (5400.0, "1.5 h"),
])
def test_age_wording(age_s, text):
    assert fmt_age(age_s) == text


def test_the_page_gets_the_age_steps_the_panels_use():
    age = pr.page_values()["age"]
    assert age["nowBelowS"] == pr.AGE_NOW_BELOW_S
    assert [(s["belowS"], s["perS"], s["unit"], s["decimals"]) for s in age["steps"]] == [
        (s.below_s, s.per_s, s.unit, s.decimals) for s in pr.AGE_STEPS]
    assert age["steps"][-1]["belowS"] is None          # the page relies on an unbounded last step
    bounds = [s["belowS"] for s in age["steps"][:-1]]
    assert bounds == sorted(bounds) and bounds[0] > age["nowBelowS"]


def test_assigned_units_are_never_aggregated_and_the_page_is_told_which():
    assert pr.NEVER_AGGREGATED == {UnitStatus.DISPATCHED, UnitStatus.EN_ROUTE, UnitStatus.ON_SCENE}
    assert pr.page_values()["neverAggregated"] == ["dispatched", "en_route", "on_scene"]


def test_the_page_script_keeps_no_copy_of_these_values():
    source = "\n".join(p.read_text(encoding="utf-8") for p in sorted(PAGE_JS.rglob("*.js")))
    assert source, "no page modules found"
    shared = {c.lower() for c in [*pr.STATUS_COLORS.values(), *pr.PRIORITY_COLORS.values()]}
    # a palette written out (two shared colours on one line); one colour may serve another purpose
    copies = [line.strip() for line in source.lower().splitlines() if sum(c in line for c in shared) >= 2]
    copies += [pr.STALE_COLOR] if pr.STALE_COLOR.lower() in source.lower() else []
    copies += [f"'{s.value}'" for s in UnitStatus if f"'{s.value}'" in source]
    copies += [f"'{s.label}'" for s in UnitStatus if f"'{s.label}'" in source]
    copies += [f"'{p}'" for p in COMPASS_POINTS if len(p) > 1 and f"'{p}'" in source]
    copies += re.findall(r"\b(?:FADE|STALE)\w*_S\s*=\s*\d+", source)    # a threshold of its own
    assert copies == []

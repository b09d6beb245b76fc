"""Business calendars, targets and SLA clocks (bot/sla.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.sla import (
    ALWAYS,
    DEFAULT_TARGETS,
    BusinessHours,
    Calendar,
    Clock,
    ClockState,
    Target,
    add_working_minutes,
    consumed_minutes,
    describe_target,
    due_at,
    fraction,
    parse_business_hours,
    reminder_instants,
    state,
    target_for,
    working_minutes_between,
)

PARIS_TZ = ZoneInfo("Europe/Paris")
NEW_YORK_TZ = ZoneInfo("America/New_York")
PARIS = Calendar.of("mon-fri 09:00-18:00", "Europe/Paris")
NEW_YORK = Calendar.of("mon-fri 09:00-18:00", "America/New_York")
WEEKDAYS = frozenset(range(5))


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A Paris wall-clock time, as the aware UTC instant the bot works with."""
    return datetime(year, month, day, hour, minute, tzinfo=PARIS_TZ).astimezone(UTC)


def new_york(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK_TZ).astimezone(UTC)


def local(at: datetime | None, tz: ZoneInfo = PARIS_TZ) -> tuple[int, int, int, int, int]:
    assert at is not None
    wall = at.astimezone(tz)
    return wall.year, wall.month, wall.day, wall.hour, wall.minute


# --------------------------------------------------------------------- business hours


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("mon-fri 09:00-18:00", BusinessHours(WEEKDAYS, 9 * 60, 18 * 60)),
        ("mon-sat 08:00-20:00", BusinessHours(frozenset(range(6)), 8 * 60, 20 * 60)),
        ("mon,wed,fri 09:00-17:00", BusinessHours(frozenset({0, 2, 4}), 9 * 60, 17 * 60)),
        ("MON-Fri 9:30-17:45", BusinessHours(WEEKDAYS, 9 * 60 + 30, 17 * 60 + 45)),
        ("  mon - fri   09:00 - 18:00 ", BusinessHours(WEEKDAYS, 9 * 60, 18 * 60)),
        ("mon, wed 09:00-17:00", BusinessHours(frozenset({0, 2}), 9 * 60, 17 * 60)),
        ("sun-thu 08:00-16:00", BusinessHours(frozenset({6, 0, 1, 2, 3}), 8 * 60, 16 * 60)),
        ("mon-wed,fri 07:00-19:00", BusinessHours(frozenset({0, 1, 2, 4}), 7 * 60, 19 * 60)),
        ("sat 10:00-24:00", BusinessHours(frozenset({5}), 10 * 60, 24 * 60)),
        ("24x7", BusinessHours(frozenset(range(7)), 0, 24 * 60)),
        ("24/7", BusinessHours(frozenset(range(7)), 0, 24 * 60)),
        ("24X7", BusinessHours(frozenset(range(7)), 0, 24 * 60)),
        ("mon-sun 00:00-24:00", BusinessHours(frozenset(range(7)), 0, 24 * 60)),
    ],
)
def test_parse_business_hours_accepts(spec: str, expected: BusinessHours) -> None:
    assert parse_business_hours(spec) == expected


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("", "expected days and hours"),
        ("mon-fri", "expected days and hours"),
        ("09:00-18:00", "expected days and hours"),
        ("mon-fri 9-18", "expected days and hours"),
        ("monday-friday 09:00-18:00", "expected days and hours"),
        ("mon-fri 09:00-18:00 extra", "expected days and hours"),
        ("lun-ven 09:00-18:00", "unknown day 'lun'"),
        ("mon-xyz 09:00-18:00", "unknown day 'xyz'"),
        ("mon-fri 18:00-09:00", "closing time 09:00 must be after opening time 18:00"),
        ("mon-fri 09:00-09:00", "must be after opening time"),
        ("mon-fri 25:00-26:00", "25:00 is not a time of day"),
        ("mon-fri 09:60-18:00", "09:60 is not a time of day"),
        ("mon-fri 24:00-24:00", "24:00 is not a time of day"),
        ("mon-fri 09:00-24:01", "24:01 is not a time of day"),
        ("24x5", "expected days and hours"),
    ],
)
def test_parse_business_hours_refuses_with_a_clear_message(spec: str, fragment: str) -> None:
    with pytest.raises(ValueError, match="invalid business hours") as caught:
        parse_business_hours(spec)
    assert fragment in str(caught.value)
    assert repr(spec) in str(caught.value)


def test_parse_business_hours_refuses_non_text() -> None:
    with pytest.raises(ValueError, match="must be text"):
        parse_business_hours(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "spec",
    ["mon-fri 09:00-18:00", "mon,wed,fri 09:00-17:00", "mon-wed,fri-sun 07:30-24:00", "24x7"],
)
def test_business_hours_print_back_as_their_spec(spec: str) -> None:
    assert str(parse_business_hours(spec)) == spec


def test_business_hours_validate_direct_construction() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        BusinessHours(frozenset(), 0, 60)
    with pytest.raises(ValueError, match="non-empty"):
        BusinessHours(frozenset({7}), 0, 60)
    with pytest.raises(ValueError, match="close after they open"):
        BusinessHours(WEEKDAYS, 600, 600)


# --------------------------------------------------------------------- calendars


def test_calendar_of_reads_spec_and_timezone() -> None:
    cal = Calendar.of("mon-fri 09:00-18:00", "Europe/Paris")
    assert cal.tz.key == "Europe/Paris"
    assert cal.hours == BusinessHours(WEEKDAYS, 540, 1080)
    assert str(cal) == "mon-fri 09:00-18:00 Europe/Paris"


@pytest.mark.parametrize("tz_name", ["Mars/Olympus_Mons", "", "../etc/passwd", "Europe"])
def test_calendar_of_refuses_unknown_timezone(tz_name: str) -> None:
    with pytest.raises(ValueError, match=f"unknown timezone {tz_name!r}"):
        Calendar.of("24x7", tz_name)


def test_calendar_of_reports_bad_hours() -> None:
    with pytest.raises(ValueError, match="invalid business hours"):
        Calendar.of("weekdays", "Europe/Paris")


def test_always_is_24x7_utc() -> None:
    assert Calendar.ALWAYS is ALWAYS
    assert ALWAYS.tz.key == "UTC"
    assert ALWAYS.hours.always
    assert ALWAYS.is_open(datetime(2026, 1, 18, 3, 0, tzinfo=UTC))  # Sunday night


@pytest.mark.parametrize(
    ("wall", "is_open"),
    [
        ((2026, 1, 12, 8, 59), False),  # Monday before opening
        ((2026, 1, 12, 9, 0), True),  # opening instant is open
        ((2026, 1, 12, 17, 59), True),
        ((2026, 1, 12, 18, 0), False),  # closing instant is closed
        ((2026, 1, 16, 12, 0), True),  # Friday
        ((2026, 1, 17, 12, 0), False),  # Saturday
        ((2026, 1, 18, 12, 0), False),  # Sunday
        ((2026, 1, 13, 3, 0), False),  # night
    ],
)
def test_is_open_reads_the_local_wall_clock(wall: tuple[int, ...], is_open: bool) -> None:
    assert PARIS.is_open(paris(*wall)) is is_open


def test_is_open_accepts_any_aware_datetime_and_refuses_naive() -> None:
    assert PARIS.is_open(datetime(2026, 1, 12, 9, 30, tzinfo=PARIS_TZ))
    with pytest.raises(ValueError, match="timezone-aware"):
        PARIS.is_open(datetime(2026, 1, 12, 9, 30))


# --------------------------------------------------------------------- working minutes


def test_friday_afternoon_plus_four_business_hours_lands_on_monday() -> None:
    due = add_working_minutes(paris(2026, 1, 16, 17, 0), 240, PARIS)
    assert local(due) == (2026, 1, 19, 12, 0)
    assert due.tzinfo is UTC


def test_overnight_continues_next_morning() -> None:
    due = add_working_minutes(paris(2026, 1, 13, 17, 0), 120, PARIS)
    assert local(due) == (2026, 1, 14, 10, 0)


def test_start_before_opening_counts_from_opening() -> None:
    assert local(add_working_minutes(paris(2026, 1, 12, 7, 0), 60, PARIS)) == (2026, 1, 12, 10, 0)


def test_start_on_a_weekend_counts_from_monday() -> None:
    due = add_working_minutes(paris(2026, 1, 17, 11, 0), 30, PARIS)
    assert local(due) == (2026, 1, 19, 9, 30)


def test_ending_exactly_at_closing_stays_that_evening() -> None:
    due = add_working_minutes(paris(2026, 1, 13, 17, 0), 60, PARIS)
    assert local(due) == (2026, 1, 13, 18, 0)


def test_zero_minutes_is_the_start_even_when_closed() -> None:
    saturday = paris(2026, 1, 17, 11, 0)
    assert add_working_minutes(saturday, 0, PARIS) == saturday


def test_fractional_minutes() -> None:
    due = add_working_minutes(paris(2026, 1, 12, 9, 0), 1.5, PARIS)
    assert due == paris(2026, 1, 12, 9, 1) + timedelta(seconds=30)


def test_several_weeks() -> None:
    # two full working weeks = 10 days x 540 min, from Monday opening to Friday closing
    due = add_working_minutes(paris(2026, 1, 12, 9, 0), 10 * 540, PARIS)
    assert local(due) == (2026, 1, 23, 18, 0)


@pytest.mark.parametrize("minutes", [-1, float("nan"), float("inf")])
def test_add_working_minutes_refuses_bad_amounts(minutes: float) -> None:
    with pytest.raises(ValueError, match="minutes must be"):
        add_working_minutes(paris(2026, 1, 12, 9, 0), minutes, PARIS)


def test_add_working_minutes_refuses_naive_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        add_working_minutes(datetime(2026, 1, 12, 9, 0), 10, PARIS)


def test_24x7_calendar_is_plain_elapsed_time() -> None:
    start = datetime(2026, 1, 18, 3, 0, tzinfo=UTC)
    assert add_working_minutes(start, 90, ALWAYS) == start + timedelta(minutes=90)
    assert working_minutes_between(start, start + timedelta(hours=2), ALWAYS) == 120


def test_working_minutes_between_counts_only_open_time() -> None:
    monday = paris(2026, 1, 12, 0, 0)
    assert working_minutes_between(monday, monday + timedelta(days=7), PARIS) == 5 * 540
    assert (
        working_minutes_between(paris(2026, 1, 16, 17, 0), paris(2026, 1, 19, 10, 0), PARIS) == 120
    )
    assert working_minutes_between(paris(2026, 1, 17, 9, 0), paris(2026, 1, 18, 18, 0), PARIS) == 0


def test_working_minutes_between_is_signed() -> None:
    a, b = paris(2026, 1, 12, 10, 0), paris(2026, 1, 12, 11, 15)
    assert working_minutes_between(a, b, PARIS) == 75
    assert working_minutes_between(b, a, PARIS) == -75
    assert working_minutes_between(a, a, PARIS) == 0


# --------------------------------------------------------------------- timezones and DST


def test_the_responding_tiers_timezone_decides() -> None:
    # Wednesday 16:00 UTC: 17:00 in Paris (one hour left today), 11:00 in New York
    instant = datetime(2026, 1, 14, 16, 0, tzinfo=UTC)
    in_paris = add_working_minutes(instant, 240, PARIS)
    in_new_york = add_working_minutes(instant, 240, NEW_YORK)
    assert local(in_paris) == (2026, 1, 15, 12, 0)
    assert local(in_new_york, NEW_YORK_TZ) == (2026, 1, 14, 15, 0)
    assert in_paris == datetime(2026, 1, 15, 11, 0, tzinfo=UTC)
    assert in_new_york == datetime(2026, 1, 14, 20, 0, tzinfo=UTC)


def test_business_hours_follow_local_time_across_spring_forward() -> None:
    # Paris moves to summer time on Sunday 29 March 2026: Friday 17:00 CET + 4 business
    # hours is Monday 12:00 CEST, i.e. 10:00 UTC instead of 11:00 UTC.
    due = add_working_minutes(paris(2026, 3, 27, 17, 0), 240, PARIS)
    assert local(due) == (2026, 3, 30, 12, 0)
    assert due == datetime(2026, 3, 30, 10, 0, tzinfo=UTC)


def test_business_hours_follow_local_time_across_fall_back() -> None:
    # back to winter time on Sunday 25 October 2026
    due = add_working_minutes(paris(2026, 10, 23, 17, 0), 240, PARIS)
    assert local(due) == (2026, 10, 26, 12, 0)
    assert due == datetime(2026, 10, 26, 11, 0, tzinfo=UTC)


def test_dst_sundays_are_23_and_25_hours_long_around_the_clock() -> None:
    paris_24x7 = Calendar.of("24x7", "Europe/Paris")
    march = working_minutes_between(paris(2026, 3, 29, 0, 0), paris(2026, 3, 30, 0, 0), paris_24x7)
    october = working_minutes_between(
        paris(2026, 10, 25, 0, 0), paris(2026, 10, 26, 0, 0), paris_24x7
    )
    assert (march, october) == (23 * 60, 25 * 60)


def test_a_daily_window_keeps_its_length_on_dst_sundays() -> None:
    every_day = Calendar.of("mon-sun 09:00-18:00", "Europe/Paris")
    for day in (paris(2026, 3, 29, 0, 0), paris(2026, 10, 25, 0, 0)):
        assert working_minutes_between(day, day + timedelta(hours=23), every_day) == 540


def test_a_window_opening_in_the_skipped_hour_opens_at_the_jump() -> None:
    # 02:30 does not exist in Paris on 29 March 2026: clocks jump from 02:00 to 03:00
    # (01:00 UTC), so the window opens at the jump and lasts until 04:00 CEST.
    cal = Calendar.of("sun 02:30-04:00", "Europe/Paris")
    jump = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert not cal.is_open(jump - timedelta(seconds=1))
    assert cal.is_open(jump)
    assert not cal.is_open(datetime(2026, 3, 29, 2, 0, tzinfo=UTC))
    saturday = paris(2026, 3, 28, 12, 0)
    assert working_minutes_between(saturday, saturday + timedelta(days=1), cal) == 60
    assert add_working_minutes(saturday, 1, cal) == jump + timedelta(minutes=1)


def test_a_window_inside_the_skipped_hour_is_empty_that_day() -> None:
    cal = Calendar.of("sun 02:15-02:45", "Europe/Paris")
    due = add_working_minutes(paris(2026, 3, 28, 12, 0), 10, cal)
    assert local(due) == (2026, 4, 5, 2, 25)


def test_a_window_over_the_repeated_hour_counts_it_twice() -> None:
    # 02:00-03:00 happens twice on 25 October 2026: 02:00 CEST to 04:00 CET is 3 hours
    cal = Calendar.of("sun 02:00-04:00", "Europe/Paris")
    saturday = paris(2026, 10, 24, 12, 0)
    assert working_minutes_between(saturday, saturday + timedelta(days=1), cal) == 180
    assert cal.is_open(datetime(2026, 10, 25, 0, 0, tzinfo=UTC))  # 02:00 CEST
    assert cal.is_open(datetime(2026, 10, 25, 1, 30, tzinfo=UTC))  # 02:30 CET
    assert not cal.is_open(datetime(2026, 10, 25, 3, 0, tzinfo=UTC))  # 04:00 CET


# --------------------------------------------------------------------- targets


def test_default_targets() -> None:
    for level in ("production", "saas"):
        assert DEFAULT_TARGETS[level] == {
            1: Target(30, around_the_clock=True),
            2: Target(240, around_the_clock=False),
            3: Target(480, around_the_clock=False),
            4: Target(720, around_the_clock=False),
        }
    assert DEFAULT_TARGETS["basic"] == {
        1: Target(240, around_the_clock=False),
        2: Target(480, around_the_clock=False),
        3: Target(720, around_the_clock=False),
        4: Target(720, around_the_clock=False),
    }


def test_target_for_levels() -> None:
    assert target_for("production", 1) == Target(30, around_the_clock=True)
    assert target_for("Production", 2) == Target(240, around_the_clock=False)
    assert target_for("saas", 3) == Target(480, around_the_clock=False)
    assert target_for("basic", 1) == Target(240, around_the_clock=False)


def test_no_contract_means_basic() -> None:
    for severity in (1, 2, 3, 4):
        assert target_for(None, severity) == target_for("basic", severity)


def test_override_replaces_minutes_only() -> None:
    overrides = {("production", 1): 15, ("basic", 4): 1440}
    assert target_for("production", 1, overrides) == Target(15, around_the_clock=True)
    assert target_for("production", 2, overrides) == Target(240, around_the_clock=False)
    assert target_for(None, 4, overrides) == Target(1440, around_the_clock=False)
    assert target_for("production", 1, {("Production", 1): 20}) == Target(20, True)


def test_vendor_defined_level_uses_its_overrides_then_basic_hours() -> None:
    overrides = {("gold", 1): 60}
    assert target_for("gold", 1, overrides) == Target(60, around_the_clock=False)
    assert target_for("gold", 2, overrides) == target_for("basic", 2)


def test_target_for_refuses_bad_severity_and_minutes() -> None:
    with pytest.raises(ValueError, match="severity must be 1 to 4"):
        target_for("basic", 5)
    with pytest.raises(ValueError, match="positive"):
        target_for("basic", 2, {("basic", 2): 0})


@pytest.mark.parametrize(
    ("target", "locale", "text"),
    [
        (Target(30, True), "en", "30 min, 24×7"),
        (Target(120, True), "en", "2 h, 24×7"),
        (Target(240, False), "en", "4 business hours"),
        (Target(60, False), "en", "1 business hour"),
        (Target(90, False), "en", "90 business minutes"),
        (Target(1, False), "en", "1 business minute"),
        (Target(30, True), "fr", "30 min, 24h/24 7j/7"),
        (Target(240, False), "fr", "4 heures ouvrées"),
        (Target(60, False), "fr-FR", "1 heure ouvrée"),
        (Target(45, False), "fr_FR", "45 minutes ouvrées"),
        (Target(240, False), "de", "4 business hours"),
    ],
)
def test_describe_target(target: Target, locale: str, text: str) -> None:
    assert describe_target(target, locale) == text


# --------------------------------------------------------------------- clocks

SEV2 = Target(240, around_the_clock=False)
SEV1 = Target(30, around_the_clock=True)
MONDAY_9 = paris(2026, 1, 12, 9, 0)


def test_business_clock_due_and_consumed() -> None:
    clock = Clock(MONDAY_9, SEV2)
    now = paris(2026, 1, 12, 10, 0)
    assert consumed_minutes(clock, PARIS, now) == 60
    assert fraction(clock, PARIS, now) == 0.25
    assert due_at(clock, PARIS, now) == paris(2026, 1, 12, 13, 0)
    assert state(clock, PARIS, now) is ClockState.OK


def test_due_is_now_plus_remaining_working_minutes() -> None:
    clock = Clock(paris(2026, 1, 16, 15, 0), Target(480, around_the_clock=False))
    now = paris(2026, 1, 16, 17, 30)
    remaining = 480 - consumed_minutes(clock, PARIS, now)
    assert due_at(clock, PARIS, now) == add_working_minutes(now, remaining, PARIS)
    assert local(due_at(clock, PARIS, now)) == (2026, 1, 19, 14, 0)


def test_sev1_around_the_clock_counts_wall_minutes_on_sunday_night() -> None:
    sunday_3am = paris(2026, 1, 18, 3, 0)
    clock = Clock(sunday_3am, SEV1)
    now = sunday_3am + timedelta(minutes=12)
    assert consumed_minutes(clock, PARIS, now) == 12
    assert due_at(clock, PARIS, now) == sunday_3am + timedelta(minutes=30)
    assert state(clock, PARIS, sunday_3am + timedelta(minutes=30)) is ClockState.BREACHED


def test_basic_sev1_waits_for_business_hours() -> None:
    sunday_3am = paris(2026, 1, 18, 3, 0)
    clock = Clock(sunday_3am, target_for("basic", 1))
    assert due_at(clock, PARIS, sunday_3am) == paris(2026, 1, 19, 13, 0)


def test_pause_during_business_hours_shifts_due_by_paused_business_time() -> None:
    pause = (paris(2026, 1, 12, 10, 0), paris(2026, 1, 12, 11, 30))
    clock = Clock(MONDAY_9, SEV2, pauses=(pause,))
    now = paris(2026, 1, 12, 12, 0)
    assert consumed_minutes(clock, PARIS, now) == 90
    assert due_at(clock, PARIS, now) == paris(2026, 1, 12, 14, 30)


def test_pause_over_a_weekend_shifts_only_the_business_time_it_covers() -> None:
    friday_4pm = paris(2026, 1, 16, 16, 0)
    monday = (2026, 1, 19)
    assert local(due_at(Clock(friday_4pm, SEV2), PARIS, friday_4pm)) == (*monday, 11, 0)

    closed_only = Clock(friday_4pm, SEV2, pauses=((paris(2026, 1, 16, 18), paris(2026, 1, 19, 9)),))
    after = paris(2026, 1, 19, 9, 0)
    assert local(due_at(closed_only, PARIS, after)) == (*monday, 11, 0)

    half_hour_open = Clock(
        friday_4pm, SEV2, pauses=((paris(2026, 1, 16, 17, 30), paris(2026, 1, 19, 9)),)
    )
    assert local(due_at(half_hour_open, PARIS, after)) == (*monday, 11, 30)


def test_pause_on_an_around_the_clock_target_shifts_by_wall_time() -> None:
    start = paris(2026, 1, 18, 3, 0)
    pause = (start + timedelta(minutes=10), start + timedelta(minutes=55))
    clock = Clock(start, SEV1, pauses=(pause,))
    now = start + timedelta(hours=1)
    assert consumed_minutes(clock, PARIS, now) == 15
    assert due_at(clock, PARIS, now) == start + timedelta(minutes=75)


def test_open_pause_freezes_the_clock() -> None:
    clock = Clock(MONDAY_9, SEV2, pauses=((paris(2026, 1, 12, 10, 0), None),))
    later = paris(2026, 1, 13, 16, 0)
    assert consumed_minutes(clock, PARIS, later) == 60
    assert due_at(clock, PARIS, later) is None
    assert state(clock, PARIS, later) is ClockState.PAUSED
    assert reminder_instants(clock, PARIS, later) == (None, None)


def test_pause_starting_now_counts_as_paused() -> None:
    pause_start = paris(2026, 1, 12, 10, 0)
    clock = Clock(MONDAY_9, SEV2, pauses=((pause_start, None),))
    assert state(clock, PARIS, pause_start) is ClockState.PAUSED
    assert due_at(clock, PARIS, pause_start) is None
    # just before, it was running
    before = pause_start - timedelta(minutes=1)
    assert state(clock, PARIS, before) is ClockState.OK
    assert due_at(clock, PARIS, before) == paris(2026, 1, 12, 13, 0)


def test_pauses_in_any_order_and_overlapping() -> None:
    pauses = (
        (paris(2026, 1, 12, 11, 0), paris(2026, 1, 12, 12, 0)),
        (paris(2026, 1, 12, 10, 0), paris(2026, 1, 12, 11, 30)),
        (paris(2026, 1, 12, 10, 15), paris(2026, 1, 12, 10, 45)),  # inside another
        (paris(2026, 1, 12, 8, 0), paris(2026, 1, 12, 9, 30)),  # began before the start
    )
    clock = Clock(MONDAY_9, SEV2, pauses=pauses)
    now = paris(2026, 1, 12, 13, 0)
    # runs 09:30-10:00 and 12:00-13:00
    assert consumed_minutes(clock, PARIS, now) == 90
    assert due_at(clock, PARIS, now) == paris(2026, 1, 12, 15, 30)


def test_pauses_with_the_same_start() -> None:
    start = paris(2026, 1, 12, 10, 0)
    clock = Clock(MONDAY_9, SEV2, pauses=((start, None), (start, paris(2026, 1, 12, 11, 0))))
    assert state(clock, PARIS, paris(2026, 1, 12, 12, 0)) is ClockState.PAUSED


def test_a_pause_cannot_end_before_it_starts() -> None:
    with pytest.raises(ValueError, match="cannot end"):
        Clock(MONDAY_9, SEV2, pauses=((paris(2026, 1, 12, 11, 0), paris(2026, 1, 12, 10, 0)),))


def test_clock_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Clock(datetime(2026, 1, 12, 9, 0), SEV2)
    with pytest.raises(ValueError, match="timezone-aware"):
        consumed_minutes(Clock(MONDAY_9, SEV2), PARIS, datetime(2026, 1, 12, 9, 0))


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (0, ClockState.OK),
        (74, ClockState.OK),
        (75, ClockState.WARNING),
        (99, ClockState.WARNING),
        (100, ClockState.BREACHED),
        (500, ClockState.BREACHED),
    ],
)
@pytest.mark.parametrize("around_the_clock", [False, True])
def test_states_by_share_consumed(
    minutes: int, expected: ClockState, around_the_clock: bool
) -> None:
    clock = Clock(MONDAY_9, Target(100, around_the_clock))
    now = add_working_minutes(MONDAY_9, minutes, ALWAYS if around_the_clock else PARIS)
    assert fraction(clock, PARIS, now) == pytest.approx(minutes / 100)
    assert state(clock, PARIS, now) is expected


def test_just_under_three_quarters_is_ok() -> None:
    clock = Clock(MONDAY_9, Target(100, around_the_clock=False))
    assert state(clock, PARIS, paris(2026, 1, 12, 10, 15) - timedelta(microseconds=1)) is (
        ClockState.OK
    )


def test_before_the_start_nothing_is_consumed() -> None:
    clock = Clock(MONDAY_9, SEV2)
    earlier = MONDAY_9 - timedelta(hours=3)
    assert consumed_minutes(clock, PARIS, earlier) == 0
    assert state(clock, PARIS, earlier) is ClockState.OK
    assert due_at(clock, PARIS, earlier) == paris(2026, 1, 12, 13, 0)


def test_breach_then_pause_stays_breached() -> None:
    pause = (paris(2026, 1, 12, 14, 0), None)
    clock = Clock(MONDAY_9, SEV2, pauses=(pause,))
    later = paris(2026, 1, 13, 10, 0)
    assert state(clock, PARIS, later) is ClockState.BREACHED
    assert due_at(clock, PARIS, later) == paris(2026, 1, 12, 13, 0)
    assert reminder_instants(clock, PARIS, later) == (
        paris(2026, 1, 12, 12, 0),
        paris(2026, 1, 12, 13, 0),
    )


def test_paused_after_the_warning_mark_keeps_only_the_passed_mark() -> None:
    clock = Clock(MONDAY_9, SEV2, pauses=((paris(2026, 1, 12, 12, 30), None),))
    assert reminder_instants(clock, PARIS, paris(2026, 1, 12, 15, 0)) == (
        paris(2026, 1, 12, 12, 0),
        None,
    )
    assert state(clock, PARIS, paris(2026, 1, 12, 15, 0)) is ClockState.PAUSED


def test_reminder_instants_mark_75_and_100_percent() -> None:
    clock = Clock(paris(2026, 1, 16, 16, 0), SEV2)
    warn, breach = reminder_instants(clock, PARIS, paris(2026, 1, 16, 16, 5))
    assert warn is not None and breach is not None
    assert local(warn) == (2026, 1, 19, 10, 0)
    assert local(breach) == (2026, 1, 19, 11, 0)
    assert state(clock, PARIS, warn) is ClockState.WARNING
    assert state(clock, PARIS, warn - timedelta(microseconds=1)) is ClockState.OK
    assert state(clock, PARIS, breach) is ClockState.BREACHED
    assert breach == due_at(clock, PARIS, paris(2026, 1, 16, 16, 5))


def test_reminder_instants_of_an_around_the_clock_target() -> None:
    start = paris(2026, 1, 18, 3, 0)
    assert reminder_instants(Clock(start, SEV1), PARIS, start) == (
        start + timedelta(minutes=22, seconds=30),
        start + timedelta(minutes=30),
    )


def test_stopped_within_target_is_met() -> None:
    clock = Clock(MONDAY_9, SEV2, stopped_at=paris(2026, 1, 12, 11, 0))
    much_later = paris(2026, 2, 1, 12, 0)
    assert state(clock, PARIS, much_later) is ClockState.MET
    assert consumed_minutes(clock, PARIS, much_later) == 120  # frozen at the stop
    assert due_at(clock, PARIS, much_later) == paris(2026, 1, 12, 13, 0)
    assert reminder_instants(clock, PARIS, much_later) == (None, None)


def test_stopped_exactly_on_time_is_met() -> None:
    clock = Clock(MONDAY_9, SEV2, stopped_at=paris(2026, 1, 12, 13, 0))
    assert state(clock, PARIS, paris(2026, 1, 12, 13, 0)) is ClockState.MET


def test_stopped_after_target_is_breached() -> None:
    clock = Clock(MONDAY_9, SEV2, stopped_at=paris(2026, 1, 12, 13, 1))
    assert state(clock, PARIS, paris(2026, 1, 20, 9, 0)) is ClockState.BREACHED
    assert fraction(clock, PARIS, paris(2026, 1, 20, 9, 0)) == pytest.approx(241 / 240)


def test_stopped_while_paused_is_met_when_within_target() -> None:
    clock = Clock(
        MONDAY_9,
        SEV2,
        pauses=((paris(2026, 1, 12, 10, 0), None),),
        stopped_at=paris(2026, 1, 14, 10, 0),
    )
    assert state(clock, PARIS, paris(2026, 1, 15, 10, 0)) is ClockState.MET
    assert consumed_minutes(clock, PARIS, paris(2026, 1, 15, 10, 0)) == 60


def test_a_stop_in_the_future_of_now_is_not_yet_a_stop() -> None:
    clock = Clock(MONDAY_9, SEV2, stopped_at=paris(2026, 1, 12, 15, 0))
    now = paris(2026, 1, 12, 12, 0)
    assert state(clock, PARIS, now) is ClockState.WARNING
    assert reminder_instants(clock, PARIS, now) == (
        paris(2026, 1, 12, 12, 0),
        paris(2026, 1, 12, 13, 0),
    )


def test_same_clock_in_two_calendars() -> None:
    # Wednesday 16:00 UTC: the vendor in New York has 4 hours left today, Paris only one
    start = datetime(2026, 1, 14, 16, 0, tzinfo=UTC)
    clock = Clock(start, SEV2)
    assert due_at(clock, NEW_YORK, start) == new_york(2026, 1, 14, 15, 0)
    assert due_at(clock, PARIS, start) == paris(2026, 1, 15, 12, 0)


def test_clock_state_values() -> None:
    assert [s.value for s in ClockState] == ["met", "paused", "ok", "warning", "breached"]
    assert ClockState.WARNING == "warning"


def test_an_answer_after_closing_time_past_the_due_time_is_late() -> None:
    # due Monday 18:00; answered that night, or the next morning: no extra business time
    # was consumed, but the due time had passed
    clock = Clock(paris(2026, 1, 12, 14, 0), SEV2)
    for answer in (paris(2026, 1, 12, 18, 30), paris(2026, 1, 13, 9, 0)):
        stopped = Clock(clock.started_at, SEV2, stopped_at=answer)
        assert consumed_minutes(stopped, PARIS, answer) == 240
        assert state(stopped, PARIS, answer) is ClockState.BREACHED
    on_time = Clock(clock.started_at, SEV2, stopped_at=paris(2026, 1, 12, 18, 0))
    assert state(on_time, PARIS, paris(2026, 1, 13, 9, 0)) is ClockState.MET

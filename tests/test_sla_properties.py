"""Properties of working-time arithmetic and clocks (bot/sla.py), over many calendars,
timezones with odd offsets and DST rules, and instants around transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.sla import (
    BusinessHours,
    Calendar,
    Clock,
    ClockState,
    Target,
    add_working_minutes,
    consumed_minutes,
    due_at,
    parse_business_hours,
    reminder_instants,
    state,
    working_minutes_between,
)

SETTINGS = settings(max_examples=200, deadline=None)
MICROSECOND = timedelta(microseconds=1)

TIMEZONES = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Asia/Kolkata",  # +05:30
    "Asia/Kathmandu",  # +05:45
    "Australia/Lord_Howe",  # half-hour DST shift
    "America/Santiago",  # DST changes at midnight
    "America/Havana",  # DST changes at midnight
    "Pacific/Chatham",  # +12:45 / +13:45
]

business_hours = (
    st.tuples(
        st.sets(st.integers(0, 6), min_size=1),
        st.integers(0, 96).map(lambda q: q * 15),
        st.integers(0, 96).map(lambda q: q * 15),
    )
    .filter(lambda t: t[1] != t[2])
    .map(lambda t: BusinessHours(frozenset(t[0]), min(t[1], t[2]), max(t[1], t[2])))
)
SPECS = [
    "mon-fri 09:00-18:00",
    "mon-sat 08:00-20:00",
    "24x7",
    "sun 02:00-03:30",  # over the Paris transitions
    "sun 02:30-04:00",  # opens inside the Paris spring gap
    "mon-sun 00:30-23:30",  # edges inside midnight gaps (Santiago, Havana)
    "mon-sun 00:15-00:45",  # wholly inside a midnight gap once a year
]
calendars = st.one_of(
    st.builds(Calendar, st.sampled_from(TIMEZONES).map(ZoneInfo), business_hours),
    st.builds(Calendar.of, st.sampled_from(SPECS), st.sampled_from(TIMEZONES)),
)
any_instant = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)


def offset(tz: ZoneInfo, at: datetime) -> timedelta:
    value = at.astimezone(tz).utcoffset()
    assert value is not None
    return value


@cache
def transitions(tz: ZoneInfo) -> list[tuple[datetime, timedelta]]:
    """The instants of 2026 at which ``tz`` changes its UTC offset, with the change."""
    found: list[tuple[datetime, timedelta]] = []
    at = datetime(2026, 1, 1, tzinfo=UTC)
    while at.year == 2026:
        lo, at = at, at + timedelta(hours=1)
        if offset(tz, at) != offset(tz, lo):
            hi = at
            while hi - lo > timedelta(seconds=1):  # transitions fall on whole seconds
                mid = lo + (hi - lo) // 2
                lo, hi = (lo, mid) if offset(tz, mid) != offset(tz, lo) else (mid, hi)
            found.append((hi, offset(tz, hi) - offset(tz, lo)))
    return found


@st.composite
def cal_and_instants(draw: st.DrawFn, count: int = 1) -> tuple[Calendar, list[datetime]]:
    """A calendar and instants, half the time within hours or days of one of its DST
    changes."""
    cal = draw(calendars)
    near = [at for at, _ in transitions(cal.tz)]
    if not near or draw(st.booleans()):
        return cal, [draw(any_instant) for _ in range(count)]
    base = draw(st.sampled_from(near))
    reach = draw(st.sampled_from([timedelta(hours=3), timedelta(days=3)]))
    spread = st.timedeltas(min_value=-reach, max_value=reach)
    return cal, [base + draw(spread) for _ in range(count)]


minutes = st.floats(min_value=0, max_value=20_000, allow_nan=False, allow_infinity=False)
whole_minutes = st.integers(min_value=0, max_value=10_000)


@SETTINGS
@given(scenario=cal_and_instants(), m=minutes)
def test_adding_then_measuring_gives_the_minutes_back(
    scenario: tuple[Calendar, list[datetime]], m: float
) -> None:
    cal, [start] = scenario
    end = add_working_minutes(start, m, cal)
    assert end.tzinfo is UTC
    assert end >= start
    assert abs(working_minutes_between(start, end, cal) - m) <= 1e-6


@SETTINGS
@given(scenario=cal_and_instants(), m1=minutes, m2=minutes)
def test_adding_is_monotonic(
    scenario: tuple[Calendar, list[datetime]], m1: float, m2: float
) -> None:
    cal, [start] = scenario
    low, high = sorted((m1, m2))
    assert add_working_minutes(start, low, cal) <= add_working_minutes(start, high, cal)


@SETTINGS
@given(scenario=cal_and_instants(), m=st.floats(min_value=0.001, max_value=20_000))
def test_a_due_time_is_never_reached_in_closed_time(
    scenario: tuple[Calendar, list[datetime]], m: float
) -> None:
    cal, [start] = scenario
    # the result closes a run of open time: the instant just before it is open
    end = add_working_minutes(start, m, cal)
    assert cal.is_open(end - MICROSECOND)


@SETTINGS
@given(scenario=cal_and_instants(), m1=whole_minutes, m2=whole_minutes)
def test_adding_in_two_steps_equals_adding_at_once(
    scenario: tuple[Calendar, list[datetime]], m1: int, m2: int
) -> None:
    cal, [start] = scenario
    in_two = add_working_minutes(add_working_minutes(start, m1, cal), m2, cal)
    assert in_two == add_working_minutes(start, m1 + m2, cal)


@SETTINGS
@given(scenario=cal_and_instants(count=3))
def test_measuring_is_additive_and_bounded_by_wall_time(
    scenario: tuple[Calendar, list[datetime]],
) -> None:
    cal, points = scenario
    a, b, c = sorted(points)
    ab, bc, ac = (working_minutes_between(x, y, cal) for x, y in ((a, b), (b, c), (a, c)))
    assert abs(ab + bc - ac) <= 1e-6
    assert 0 <= ac <= (c - a) / timedelta(minutes=1) + 1e-6
    assert working_minutes_between(c, a, cal) == -ac


@SETTINGS
@given(tz=st.sampled_from(TIMEZONES), start=any_instant, end=any_instant)
def test_a_24x7_calendar_measures_wall_time(tz: str, start: datetime, end: datetime) -> None:
    cal = Calendar.of("24x7", tz)
    expected = (end - start) / timedelta(minutes=1)
    assert abs(working_minutes_between(start, end, cal) - expected) <= 1e-6


@SETTINGS
@given(scenario=cal_and_instants())
def test_is_open_agrees_with_the_local_wall_clock(
    scenario: tuple[Calendar, list[datetime]],
) -> None:
    cal, [at] = scenario
    wall = at.astimezone(cal.tz)
    other_fold = wall.replace(fold=1 - wall.fold)
    assume(other_fold.utcoffset() == wall.utcoffset())  # skip wall times read twice
    minute_of_day = wall.hour * 60 + wall.minute + (wall.second + wall.microsecond / 1e6) / 60
    expected = wall.weekday() in cal.hours.days and cal.hours.start <= minute_of_day < cal.hours.end
    assert cal.is_open(at) is expected


@SETTINGS
@given(hours=business_hours)
def test_business_hours_print_back_as_their_spec(hours: BusinessHours) -> None:
    assert parse_business_hours(str(hours)) == hours


@st.composite
def clocks(draw: st.DrawFn) -> tuple[Calendar, Clock, datetime]:
    """A calendar, a clock with up to three finished pauses (unordered, maybe overlapping
    the start), and a present instant after the last pause."""
    cal, [start] = draw(cal_and_instants())
    target = Target(
        draw(st.integers(min_value=1, max_value=2_000)), around_the_clock=draw(st.booleans())
    )
    cursor = start - timedelta(hours=draw(st.integers(0, 5)))
    pauses: list[tuple[datetime, datetime | None]] = []
    for _ in range(draw(st.integers(0, 3))):
        since = cursor + timedelta(minutes=draw(st.integers(0, 3_000)))
        until = since + timedelta(minutes=draw(st.integers(0, 3_000)))
        pauses.append((since, until))
        cursor = until
    now = cursor + timedelta(minutes=draw(st.integers(0, 5_000)))
    return cal, Clock(start, target, pauses=tuple(draw(st.permutations(pauses)))), now


@SETTINGS
@given(scenario=clocks())
def test_the_target_is_consumed_exactly_at_the_due_instant(
    scenario: tuple[Calendar, Clock, datetime],
) -> None:
    cal, clock, now = scenario
    due = due_at(clock, cal, now)
    assert due is not None  # every pause is over
    assert abs(consumed_minutes(clock, cal, due) - clock.target.minutes) <= 1e-6
    assert state(clock, cal, max(due, now)) is ClockState.BREACHED
    assert state(clock, cal, due - MICROSECOND) is not ClockState.BREACHED
    warn, breach = reminder_instants(clock, cal, now)
    assert breach == due
    assert warn is not None and warn <= due
    assert abs(consumed_minutes(clock, cal, warn) - clock.target.minutes * 3 / 4) <= 1e-6
    # paused beats warning: the 75 % mark may fall on the very instant a pause begins
    expected = {ClockState.WARNING, ClockState.BREACHED}
    if any(since <= warn < until for since, until in clock.pauses if until is not None):
        expected.add(ClockState.PAUSED)
    assert state(clock, cal, warn) in expected


@SETTINGS
@given(scenario=clocks(), later=st.integers(0, 10_000))
def test_consumed_time_never_goes_back(
    scenario: tuple[Calendar, Clock, datetime], later: int
) -> None:
    cal, clock, now = scenario
    after = now + timedelta(minutes=later)
    assert consumed_minutes(clock, cal, now) <= consumed_minutes(clock, cal, after)


@SETTINGS
@given(scenario=clocks())
def test_pausing_never_brings_the_due_time_forward(
    scenario: tuple[Calendar, Clock, datetime],
) -> None:
    cal, clock, now = scenario
    unpaused = Clock(clock.started_at, clock.target)
    paused_due, plain_due = due_at(clock, cal, now), due_at(unpaused, cal, now)
    assert paused_due is not None and plain_due is not None
    assert paused_due >= plain_due


@SETTINGS
@given(scenario=clocks(), response=st.integers(0, 5_000))
def test_a_stopped_clock_is_met_exactly_when_stopped_by_the_due_time(
    scenario: tuple[Calendar, Clock, datetime], response: int
) -> None:
    cal, clock, now = scenario
    stopped_at = clock.started_at + timedelta(minutes=response)
    stopped = Clock(clock.started_at, clock.target, clock.pauses, stopped_at=stopped_at)
    later = max(now, stopped_at) + timedelta(days=30)
    due = due_at(clock, cal, later)
    assert due is not None
    met = state(stopped, cal, later) is ClockState.MET
    assert met is (stopped_at <= due)
    assert reminder_instants(stopped, cal, later) == (None, None)


GAP_ZONES = ["Europe/Paris", "America/Santiago", "America/Havana", "Australia/Lord_Howe"]


@SETTINGS
@given(tz_name=st.sampled_from([*GAP_ZONES, "Pacific/Chatham"]), data=st.data())
def test_window_edges_inside_a_skipped_hour_sit_at_the_jump(
    tz_name: str, data: st.DataObject
) -> None:
    tz = ZoneInfo(tz_name)
    jump, change = next((at, change) for at, change in transitions(tz) if change > timedelta(0))
    gap_start = (jump - MICROSECOND).astimezone(tz).replace(tzinfo=None) + MICROSECOND
    gap_minutes = change // timedelta(minutes=1)
    edge_wall = gap_start + timedelta(minutes=data.draw(st.integers(1, gap_minutes - 1)))
    edge = edge_wall.hour * 60 + edge_wall.minute
    every_day = frozenset(range(7))

    opening = Calendar(tz, BusinessHours(every_day, edge, min(edge + 120, 1440)))
    assert opening.is_open(jump)
    assert not opening.is_open(jump - MICROSECOND)

    first_wall = gap_start.hour * 60 + gap_start.minute
    assume(first_wall > 0)  # a gap at midnight leaves no earlier opening that day
    closing = Calendar(tz, BusinessHours(every_day, first_wall - 1, edge))
    assert closing.is_open(jump - MICROSECOND)
    assert not closing.is_open(jump)

"""Service-level clocks: business calendars, due times, pauses.

Pure functions, no database and no Slack. Instants go in and come out as timezone-aware
UTC datetimes; a calendar's opening hours are read in its own timezone's wall clock, one
local day at a time, so weekends, nights and daylight-saving changes fall out naturally.

Public holidays come from the ``holidays`` package (its own tables, no network), by
country and optional subdivision, plus explicit closed dates; a closed day has no open
window at all. A 24×7 calendar is open on holidays too.

Working time is kept as exact ``timedelta`` (whole microseconds) inside this module, so
adding minutes and measuring them back agree exactly; the public API speaks float minutes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache, lru_cache
from typing import ClassVar, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holiday_tables

DAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MINUTES_PER_DAY: Final = 24 * 60
_MINUTE: Final = timedelta(minutes=1)
_ONE_DAY: Final = timedelta(days=1)
_ALWAYS_SPELLINGS: Final = frozenset({"24x7", "24/7", "24×7"})
_SPEC_RE: Final = re.compile(
    r"(?P<days>[a-z]{3}(?:\s*[-,]\s*[a-z]{3})*)\s+"
    r"(?P<start>[0-9]{1,2}:[0-9]{2})\s*-\s*(?P<end>[0-9]{1,2}:[0-9]{2})"
)


# --------------------------------------------------------------------------- calendars


@dataclass(frozen=True)
class BusinessHours:
    """Open on ``days`` (0 = Monday … 6 = Sunday) from ``start`` to ``end``, both in
    minutes after local midnight; ``end`` may be 1440 (midnight at the end of the day)."""

    days: frozenset[int]
    start: int
    end: int

    def __post_init__(self) -> None:
        if not self.days or not self.days <= frozenset(range(7)):
            raise ValueError(f"business days must be a non-empty subset of 0..6, got {self.days}")
        if not 0 <= self.start < self.end <= _MINUTES_PER_DAY:
            raise ValueError("business hours must close after they open, within one day")

    @property
    def always(self) -> bool:
        return len(self.days) == 7 and self.start == 0 and self.end == _MINUTES_PER_DAY

    def __str__(self) -> str:
        """The canonical spec, accepted back by :func:`parse_business_hours`."""
        if self.always:
            return "24x7"
        runs: list[list[int]] = []
        for day in sorted(self.days):
            if runs and day == runs[-1][-1] + 1:
                runs[-1].append(day)
            else:
                runs.append([day])
        names = [
            DAY_NAMES[run[0]] if len(run) == 1 else f"{DAY_NAMES[run[0]]}-{DAY_NAMES[run[-1]]}"
            for run in runs
        ]
        return f"{','.join(names)} {_hhmm(self.start)}-{_hhmm(self.end)}"


@lru_cache(maxsize=256)
def _parsed_hours(spec: str) -> BusinessHours:
    """Every ticket reads its responder's calendar; the few specs are parsed once."""
    return parse_business_hours(spec)


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_business_hours(spec: str) -> BusinessHours:
    """Read ``"mon-fri 09:00-18:00"``, ``"mon,wed,fri 09:00-17:00"``, ``"sun-thu 08:00-16:00"``
    (ranges may wrap past Sunday) or ``"24x7"`` / ``"24/7"``. Day names are English
    three-letter abbreviations, any case. Raises ValueError with a message fit for a person.
    """
    if not isinstance(spec, str):
        raise ValueError(f"business hours must be text such as 'mon-fri 09:00-18:00', got {spec!r}")
    text = " ".join(spec.split()).lower()
    if text in _ALWAYS_SPELLINGS:
        return BusinessHours(frozenset(range(7)), 0, _MINUTES_PER_DAY)
    match = _SPEC_RE.fullmatch(text)
    if match is None:
        raise ValueError(
            f"invalid business hours {spec!r}: expected days and hours such as "
            "'mon-fri 09:00-18:00', 'mon,wed,fri 09:00-17:00' or '24x7'"
        )
    days: set[int] = set()
    for item in re.sub(r"\s+", "", match["days"]).split(","):
        first, _, last = item.partition("-")
        lo = _day_index(first, spec)
        hi = _day_index(last, spec) if last else lo
        days.update((lo + offset) % 7 for offset in range((hi - lo) % 7 + 1))
    start = _minute_of_day(match["start"], spec, closing=False)
    end = _minute_of_day(match["end"], spec, closing=True)
    if end <= start:
        raise ValueError(
            f"invalid business hours {spec!r}: closing time {match['end']} "
            f"must be after opening time {match['start']}"
        )
    return BusinessHours(frozenset(days), start, end)


def _day_index(name: str, spec: str) -> int:
    try:
        return DAY_NAMES.index(name)
    except ValueError:
        raise ValueError(
            f"invalid business hours {spec!r}: unknown day {name!r} (use {', '.join(DAY_NAMES)})"
        ) from None


def _minute_of_day(hhmm: str, spec: str, *, closing: bool) -> int:
    hours, minutes = (int(part) for part in hhmm.split(":"))
    if hours == 24 and minutes == 0 and closing:
        return _MINUTES_PER_DAY
    if hours > 23 or minutes > 59:
        raise ValueError(f"invalid business hours {spec!r}: {hhmm} is not a time of day")
    return hours * 60 + minutes


@dataclass(frozen=True)
class Holidays:
    """Days closed whatever the weekly hours say: the public holidays of ``country`` (an
    ISO 3166 code, e.g. FR) and its ``subdivision`` (e.g. a French département, a US
    state), and the explicit ``closed`` dates. Dates are local dates of the calendar."""

    country: str | None = None
    subdivision: str | None = None
    closed: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if self.subdivision is not None and self.country is None:
            raise ValueError("a holiday subdivision needs its country")
        if self.country is not None:
            _public_holidays(self.country, self.subdivision)  # raises if unknown

    def is_closed(self, day: date) -> bool:
        if day in self.closed:
            return True
        return self.country is not None and day in _public_holidays(self.country, self.subdivision)

    def __str__(self) -> str:
        parts = []
        if self.country:
            parts.append(self.country + (f"-{self.subdivision}" if self.subdivision else ""))
        parts.extend(day.isoformat() for day in sorted(self.closed))
        return ", ".join(parts)


NO_HOLIDAYS: Final = Holidays()


@cache
def _public_holidays(country: str, subdivision: str | None) -> holiday_tables.HolidayBase:
    """The package's table for a country; it fills in each year when first asked."""
    subdivisions = _supported_countries().get(country)
    if subdivisions is None:
        raise ValueError(f"no public holidays known for country {country!r}")
    if subdivision is not None and subdivision not in subdivisions:
        raise ValueError(f"unknown subdivision {subdivision!r} of {country}")
    return holiday_tables.country_holidays(country, subdiv=subdivision)


@cache
def _supported_countries() -> dict[str, list[str]]:
    """The countries (and their aliases) the package has tables for, with their
    subdivisions."""
    return holiday_tables.list_supported_countries()


def public_holiday(day: date, country: str, subdivision: str | None = None) -> str | None:
    """The name of the public holiday on ``day``, if it is one."""
    name = _public_holidays(country, subdivision).get(day)
    return str(name) if name else None


@dataclass(frozen=True)
class Calendar:
    """Business hours read in one timezone (the responding organization's), closed on
    its holidays."""

    tz: ZoneInfo
    hours: BusinessHours
    holidays: Holidays = NO_HOLIDAYS

    ALWAYS: ClassVar[Calendar]

    @classmethod
    def of(cls, spec: str, tz_name: str, holidays: Holidays = NO_HOLIDAYS) -> Calendar:
        hours = _parsed_hours(spec) if isinstance(spec, str) else parse_business_hours(spec)
        try:
            tz = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError, OSError, TypeError):
            raise ValueError(f"unknown timezone {tz_name!r}") from None
        return cls(tz, hours, holidays)

    def __str__(self) -> str:
        closed = str(self.holidays)
        return f"{self.hours} {self.tz.key}" + (f", closed {closed}" if closed else "")

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` (aware) falls inside opening hours; a window is half-open, so
        the closing instant itself is closed."""
        at = _utc(at, "at")
        opens, _ = next(self._spans(at))
        return opens <= at

    def _spans(self, since: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open spans ``[opens, closes)`` in UTC, in order, each ending after ``since``
        (``opens`` clipped to ``since``). Infinite: callers stop when they have enough."""
        # A window of an earlier day closes no later than the first instant that reads
        # this day's midnight, so none can still be open at ``since``.
        day = since.astimezone(self.tz).date()
        while True:
            if day.weekday() in self.hours.days and (
                self.hours.always or not self.holidays.is_closed(day)
            ):
                opens = max(_local_instant(self.tz, day, self.hours.start), since)
                closes = _local_instant(self.tz, day, self.hours.end)
                if closes > opens:
                    yield opens, closes
            day += _ONE_DAY


# Every clock shown or started walks the same few days' opening and closing instants.
@lru_cache(maxsize=8192)
def _local_instant(tz: ZoneInfo, day: date, minute: int) -> datetime:
    """The UTC instant at which the wall clock of ``tz`` first reads ``day`` + ``minute``.

    A wall time repeated by a fall-back means its first occurrence. A wall time skipped by
    a spring-forward means the jump itself, so a window edge inside a gap still sits
    between the instants that read earlier and later times.
    """
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)
    first = wall.replace(tzinfo=tz).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    # In a gap the two folds bracket the jump; bisect on whole seconds (tz data offsets
    # and transitions are whole seconds), about a dozen steps for a one-hour gap.
    other = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    lo, hi = min(first, other), max(first, other)
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) // 2
        mid -= timedelta(microseconds=mid.microsecond)
        if mid.astimezone(tz).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return hi


Calendar.ALWAYS = Calendar(ZoneInfo("UTC"), parse_business_hours("24x7"))
ALWAYS: Final = Calendar.ALWAYS


def _utc(at: datetime, name: str) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {at.isoformat()}")
    return at.astimezone(UTC)


def _minutes_to_delta(minutes: float) -> timedelta:
    if not math.isfinite(minutes) or minutes < 0:
        raise ValueError(f"minutes must be a finite number >= 0, got {minutes!r}")
    return timedelta(microseconds=round(minutes * 60_000_000))


def _add_working(start: datetime, amount: timedelta, cal: Calendar) -> datetime:
    if amount <= timedelta(0):
        return start
    if cal.hours.always:  # every instant is open: plain elapsed time
        return start + amount
    for opens, closes in cal._spans(start):
        if amount <= closes - opens:
            return opens + amount
        amount -= closes - opens
    raise AssertionError("unreachable: calendar spans are infinite")


def _working_between(a: datetime, b: datetime, cal: Calendar) -> timedelta:
    if b <= a:
        return timedelta(0)
    if cal.hours.always:
        return b - a
    total = timedelta(0)
    for opens, closes in cal._spans(a):
        if opens >= b:
            break
        total += min(closes, b) - opens
    return total


def add_working_minutes(start: datetime, minutes: float, cal: Calendar) -> datetime:
    """The instant (aware UTC) at which ``minutes`` of open time in ``cal`` have passed since
    ``start``. Zero minutes gives ``start`` itself, even when closed; otherwise a start in
    closed time counts from the next opening."""
    return _add_working(_utc(start, "start"), _minutes_to_delta(minutes), cal)


def working_minutes_between(a: datetime, b: datetime, cal: Calendar) -> float:
    """Open minutes of ``cal`` between ``a`` and ``b``; negative when ``b`` is before ``a``."""
    a, b = _utc(a, "a"), _utc(b, "b")
    if b < a:
        return -(_working_between(b, a, cal) / _MINUTE)
    return _working_between(a, b, cal) / _MINUTE


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """A first-response target: ``minutes`` of business time in the responder's calendar,
    or of wall-clock time when ``around_the_clock``."""

    minutes: int
    around_the_clock: bool

    def __post_init__(self) -> None:
        if self.minutes <= 0:
            raise ValueError(f"a target must be a positive number of minutes, got {self.minutes}")


_PRIORITY_TARGETS: Final = {
    1: Target(30, around_the_clock=True),
    2: Target(4 * 60, around_the_clock=False),
    3: Target(8 * 60, around_the_clock=False),
    4: Target(12 * 60, around_the_clock=False),
}

DEFAULT_TARGETS: Final[dict[str, dict[int, Target]]] = {
    "production": dict(_PRIORITY_TARGETS),
    "saas": dict(_PRIORITY_TARGETS),
    # basic is a 12x5 offer: even sev1 waits for business hours
    "basic": {
        1: Target(4 * 60, around_the_clock=False),
        2: Target(8 * 60, around_the_clock=False),
        3: Target(12 * 60, around_the_clock=False),
        4: Target(12 * 60, around_the_clock=False),
    },
}
NO_CONTRACT_LEVEL: Final = "basic"


def target_for(
    level: str | None,
    severity: int,
    overrides: Mapping[tuple[str, int], int] | None = None,
) -> Target:
    """The target of a support ``level`` (None: no contract, treated as basic) for a
    severity 1–4. An override keyed ``(level, severity)`` replaces the minutes only; whether
    the clock runs around the clock stays a property of the level."""
    key = NO_CONTRACT_LEVEL if level is None else level.lower()
    if not 1 <= severity <= 4:
        raise ValueError(f"severity must be 1 to 4, got {severity!r}")
    # A vendor-defined level (declared through dataset overrides) starts from the
    # business-hours table of basic support for whatever severities it does not set.
    default = DEFAULT_TARGETS.get(key, DEFAULT_TARGETS[NO_CONTRACT_LEVEL])[severity]
    for (level_name, level_severity), minutes in (overrides or {}).items():
        if level_name.lower() == key and level_severity == severity:
            return Target(minutes, default.around_the_clock)
    return default


def describe_target(target: Target, locale: str) -> str:
    """A short human wording: "30 min, 24×7", "4 business hours", "30 min, 24h/24 7j/7",
    "4 heures ouvrées"."""
    french = locale.lower().replace("_", "-").split("-")[0] == "fr"
    minutes = target.minutes
    if target.around_the_clock:
        amount = f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"
        return f"{amount}, 24h/24 7j/7" if french else f"{amount}, 24×7"
    if minutes % 60 == 0:
        count, unit = minutes // 60, ("heure ouvrée" if french else "business hour")
    else:
        count, unit = minutes, ("minute ouvrée" if french else "business minute")
    if count > 1:
        unit = (unit.replace(" ", "s ", 1) + "s") if french else (unit + "s")
    return f"{count} {unit}"


# --------------------------------------------------------------------------- clocks


class ClockState(StrEnum):
    MET = "met"
    PAUSED = "paused"
    OK = "ok"
    WARNING = "warning"  # 75 % of the target consumed
    BREACHED = "breached"  # 100 % consumed, or stopped after the target


@dataclass(frozen=True)
class Clock:
    """A running target. ``pauses`` are ``(from, until)`` spans, ``until`` None while the
    pause lasts (waiting on the customer); ``stopped_at`` is the first response or the
    resolution. Pauses may be given in any order and may overlap."""

    started_at: datetime
    target: Target
    pauses: tuple[tuple[datetime, datetime | None], ...] = ()
    stopped_at: datetime | None = None

    def __post_init__(self) -> None:
        _utc(self.started_at, "started_at")
        if self.stopped_at is not None:
            _utc(self.stopped_at, "stopped_at")
        for since, until in self.pauses:
            if until is not None and _utc(until, "pause end") < _utc(since, "pause start"):
                raise ValueError(f"a pause cannot end ({until}) before it starts ({since})")


def _effective_now(clock: Clock, now: datetime) -> datetime:
    now = _utc(now, "now")
    if clock.stopped_at is not None:
        return min(now, _utc(clock.stopped_at, "stopped_at"))
    return now


def _running_spans(clock: Clock, at: datetime) -> Iterator[tuple[datetime, datetime | None]]:
    """The spans during which the clock runs, from its start, as known at ``at``: pauses
    that begin later are ignored. The last span is open-ended (None) unless a pause is on."""
    start = _utc(clock.started_at, "started_at")
    pauses = sorted(
        (
            (_utc(since, "pause start"), None if until is None else _utc(until, "pause end"))
            for since, until in clock.pauses
            if _utc(since, "pause start") <= at
        ),
        key=lambda pause: pause[0],
    )
    cursor: datetime | None = start
    for since, until in pauses:
        if cursor is None:  # an earlier pause is still on
            return
        if until is not None and until <= cursor:
            continue  # wholly before the start, or inside an earlier pause
        if since > cursor:
            yield cursor, since
        cursor = None if until is None else until
    if cursor is not None:
        yield cursor, None


def _measure(clock: Clock, cal: Calendar, a: datetime, b: datetime) -> timedelta:
    if clock.target.around_the_clock:
        return max(b - a, timedelta(0))
    return _working_between(a, b, cal)


def _advance(clock: Clock, cal: Calendar, start: datetime, amount: timedelta) -> datetime:
    if clock.target.around_the_clock:
        return start + amount
    return _add_working(start, amount, cal)


def _consumed(clock: Clock, cal: Calendar, at: datetime) -> timedelta:
    total = timedelta(0)
    for since, until in _running_spans(clock, at):
        if since >= at:
            break
        total += _measure(clock, cal, since, at if until is None else min(until, at))
    return total


def _reached_at(clock: Clock, cal: Calendar, at: datetime, amount: timedelta) -> datetime | None:
    """When the consumed time reaches ``amount``, as known at ``at`` (past or projected);
    None if a pause that is still on came first."""
    for since, until in _running_spans(clock, at):
        if until is None:
            return _advance(clock, cal, since, amount)
        span = _measure(clock, cal, since, until)
        if amount <= span:
            return _advance(clock, cal, since, amount)
        amount -= span
    return None


def _paused(clock: Clock, at: datetime) -> bool:
    return any(
        _utc(since, "pause start") <= at and (until is None or at < _utc(until, "pause end"))
        for since, until in clock.pauses
    )


def consumed_minutes(clock: Clock, cal: Calendar, now: datetime) -> float:
    """Minutes counted against the target up to ``now`` (or the stop): open time of ``cal``,
    or wall-clock time for an around-the-clock target, paused spans excluded."""
    return _consumed(clock, cal, _effective_now(clock, now)) / _MINUTE


def due_at(clock: Clock, cal: Calendar, now: datetime) -> datetime | None:
    """The instant the target is (or was) reached. A target already reached keeps its
    past instant even if the clock was paused afterwards; otherwise None while paused.
    For a stopped clock: the due time as it stood when it stopped."""
    at = _effective_now(clock, now)
    return _reached_at(clock, cal, at, timedelta(minutes=clock.target.minutes))


def fraction(clock: Clock, cal: Calendar, now: datetime) -> float:
    """Share of the target consumed: 0.0 at the start, 1.0 at the due time."""
    return consumed_minutes(clock, cal, now) / clock.target.minutes


def state(clock: Clock, cal: Calendar, now: datetime) -> ClockState:
    """met/breached once stopped; otherwise breached beats paused (a breach cannot be
    undone by waiting on the customer), and paused beats ok/warning."""
    at = _effective_now(clock, now)
    target = timedelta(minutes=clock.target.minutes)
    if clock.stopped_at is not None and at == _utc(clock.stopped_at, "stopped_at"):
        # Compare instants, not consumed time: an answer at 09:00 to a ticket due at 18:00
        # the evening before consumed no more business time, yet it is late.
        due = _reached_at(clock, cal, at, target)
        return ClockState.MET if due is None or at <= due else ClockState.BREACHED
    consumed = _consumed(clock, cal, at)
    if consumed >= target:
        return ClockState.BREACHED
    if _paused(clock, at):
        return ClockState.PAUSED
    # compared as exact timedeltas, so 75 % means exactly 75 %
    return ClockState.WARNING if consumed * 4 >= target * 3 else ClockState.OK


def reminder_instants(
    clock: Clock, cal: Calendar, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """The instants of the 75 % and 100 % marks, for the reminders. Both None once the clock
    is stopped. While paused, a mark already passed keeps its instant (its reminder may
    still be owed) and a mark still ahead is None."""
    now = _utc(now, "now")
    if clock.stopped_at is not None and _utc(clock.stopped_at, "stopped_at") <= now:
        return None, None
    target = timedelta(minutes=clock.target.minutes)
    return (
        _reached_at(clock, cal, now, target * 3 / 4),
        _reached_at(clock, cal, now, target),
    )

"""Public holidays and closed dates in business calendars: due times skip them, also
across a daylight-saving change; the dataset sets them per vendor and organization."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from ticket_fixtures import demo_actor

from bot import sla, tickets
from bot.importer import DatasetError, check, import_document
from bot.store import Store
from bot.store import directory as directory_db

UTC = dt.UTC
DUBLIN = "Europe/Dublin"
DEMO = Path(__file__).resolve().parents[1] / "data" / "demo.yml"
IRELAND = sla.Holidays(country="IE")


def at(text: str, tz: str) -> dt.datetime:
    from zoneinfo import ZoneInfo

    return dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)


# --------------------------------------------------------------------------- calendars


def test_a_public_holiday_is_closed_all_day() -> None:
    cal = sla.Calendar.of("mon-fri 08:00-20:00", DUBLIN, IRELAND)
    # Monday 2026-10-26 is Ireland's October bank holiday.
    assert sla.public_holiday(dt.date(2026, 10, 26), "IE") == "October Bank Holiday"
    assert not cal.is_open(at("2026-10-26 12:00", DUBLIN))
    assert cal.is_open(at("2026-10-27 12:00", DUBLIN))
    assert sla.Calendar.of("mon-fri 08:00-20:00", DUBLIN).is_open(at("2026-10-26 12:00", DUBLIN))


def test_due_time_across_a_dst_change_and_a_holiday() -> None:
    # Friday 2026-10-23 17:00 in Dublin is 16:00 UTC (summer time). Clocks go back on
    # Sunday the 25th, Monday the 26th is a bank holiday: of 8 business hours, 3 are
    # left on Friday, the other 5 on Tuesday, 08:00-13:00 Dublin = 13:00 UTC (winter time).
    start = at("2026-10-23 17:00", DUBLIN)
    assert start == dt.datetime(2026, 10, 23, 16, 0, tzinfo=UTC)
    with_holidays = sla.Calendar.of("mon-fri 08:00-20:00", DUBLIN, IRELAND)
    without = sla.Calendar.of("mon-fri 08:00-20:00", DUBLIN)
    assert sla.add_working_minutes(start, 8 * 60, with_holidays) == dt.datetime(
        2026, 10, 27, 13, 0, tzinfo=UTC
    )
    assert sla.add_working_minutes(start, 8 * 60, without) == dt.datetime(
        2026, 10, 26, 13, 0, tzinfo=UTC
    )
    # Measured back: the holiday counts for nothing.
    end = dt.datetime(2026, 10, 27, 13, 0, tzinfo=UTC)
    assert sla.working_minutes_between(start, end, with_holidays) == 8 * 60
    assert sla.working_minutes_between(start, end, without) == 20 * 60


def test_a_running_clock_skips_the_holiday() -> None:
    cal = sla.Calendar.of("mon-fri 08:00-20:00", DUBLIN, IRELAND)
    clock = sla.Clock(started_at=at("2026-10-23 17:00", DUBLIN), target=sla.Target(480, False))
    monday_noon = at("2026-10-26 12:00", DUBLIN)
    assert sla.consumed_minutes(clock, cal, monday_noon) == 180
    assert sla.state(clock, cal, monday_noon) is sla.ClockState.OK
    warn, due = sla.reminder_instants(clock, cal, monday_noon)
    assert warn == dt.datetime(2026, 10, 27, 11, 0, tzinfo=UTC)
    assert due == dt.datetime(2026, 10, 27, 13, 0, tzinfo=UTC)


def test_explicit_closed_dates_and_public_holidays_together() -> None:
    # Paris, 2026-12-23 17:00: 1 h that day; the 24th closed by the partner, the 25th a
    # public holiday, then the weekend; 7 h on Monday the 28th: 16:00 Paris.
    nuage = sla.Holidays(country="FR", closed=frozenset({dt.date(2026, 12, 24)}))
    cal = sla.Calendar.of("mon-fri 09:00-18:00", "Europe/Paris", nuage)
    due = sla.add_working_minutes(at("2026-12-23 17:00", "Europe/Paris"), 480, cal)
    assert due == at("2026-12-28 16:00", "Europe/Paris")
    only_public = sla.Calendar.of("mon-fri 09:00-18:00", "Europe/Paris", sla.Holidays("FR"))
    assert sla.add_working_minutes(at("2026-12-23 17:00", "Europe/Paris"), 480, only_public) == at(
        "2026-12-24 16:00", "Europe/Paris"
    )


def test_a_subdivision_has_its_own_holidays() -> None:
    # Good Friday is a public holiday in Moselle (57), not in the rest of France.
    good_friday = at("2026-04-03 12:00", "Europe/Paris")
    moselle = sla.Calendar.of("mon-fri 09:00-18:00", "Europe/Paris", sla.Holidays("FR", "57"))
    france = sla.Calendar.of("mon-fri 09:00-18:00", "Europe/Paris", sla.Holidays("FR"))
    assert not moselle.is_open(good_friday)
    assert france.is_open(good_friday)


def test_around_the_clock_ignores_holidays() -> None:
    cal = sla.Calendar.of(
        "24x7", DUBLIN, sla.Holidays("IE", closed=frozenset({dt.date(2026, 12, 24)}))
    )
    christmas = at("2026-12-25 03:00", DUBLIN)
    assert cal.is_open(christmas)
    assert sla.add_working_minutes(christmas, 30, cal) == christmas + dt.timedelta(minutes=30)


def test_years_beyond_the_first_are_known_too() -> None:
    cal = sla.Calendar.of("mon-fri 09:00-18:00", "Europe/Paris", sla.Holidays("FR"))
    assert not cal.is_open(at("2031-07-14 12:00", "Europe/Paris"))  # a Monday, Bastille Day


@pytest.mark.parametrize(
    ("country", "subdivision", "message"),
    [
        ("XX", None, "no public holidays known for country 'XX'"),
        ("FR", "ZZ", "unknown subdivision 'ZZ' of FR"),
        (None, "57", "a holiday subdivision needs its country"),
    ],
)
def test_unknown_countries_and_subdivisions(
    country: str | None, subdivision: str | None, message: str
) -> None:
    with pytest.raises(ValueError) as info:
        sla.Holidays(country=country, subdivision=subdivision)
    assert str(info.value) == message


def test_calendar_wording_names_the_holidays() -> None:
    holidays = sla.Holidays("FR", "57", frozenset({dt.date(2026, 12, 24)}))
    cal = sla.Calendar.of("mon-fri 09:00-18:00", "Europe/Paris", holidays)
    assert str(cal) == "mon-fri 09:00-18:00 Europe/Paris, closed FR-57, 2026-12-24"


# --------------------------------------------------------------------------- dataset


def demo() -> dict[str, Any]:
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def errors_of(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(DatasetError) as info:
        check(doc)
    return [str(e) for e in info.value.errors]


def with_holidays(value: Any, *, section: str = "organizations", index: int = 0) -> dict[str, Any]:
    doc = copy.deepcopy(demo())
    doc[section][index]["holidays"] = value
    return doc


def test_the_demo_sets_holidays_on_vendors_and_partners() -> None:
    data = check(demo())
    vmw = next(v for v in data.vendors if v.id == "vmw")
    assert vmw.holidays.country == "IE" and dt.date(2026, 12, 24) in vmw.holidays.closed
    nuage = next(o for o in data.organizations if o.id == "nuage")
    assert nuage.holidays == sla.Holidays("FR", None, frozenset({dt.date(2026, 12, 24)}))
    # holidays are optional
    acme = next(o for o in data.organizations if o.id == "acme")
    assert acme.holidays == sla.NO_HOLIDAYS


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (
            "FR",
            "organizations[0].holidays: expected a mapping (country, subdivision, closed), got text",
        ),
        (
            {"country": "XX"},
            "organizations[0].holidays.country: no public holidays known for country 'XX'",
        ),
        (
            {"country": "France"},
            "organizations[0].holidays.country: expected an ISO 3166 country code like FR, got 'FRANCE'",
        ),
        (
            {"country": "FR", "subdivision": "ZZ"},
            "organizations[0].holidays.subdivision: unknown subdivision 'ZZ' of FR",
        ),
        (
            {"subdivision": "57"},
            "organizations[0].holidays.subdivision: a subdivision needs its country",
        ),
        (
            {"closed": "2026-12-24"},
            "organizations[0].holidays.closed: expected a list of dates, got text",
        ),
        (
            {"closed": ["2026-12-24", "24/12"]},
            "organizations[0].holidays.closed[1]: not a date: '24/12' (use YYYY-MM-DD)",
        ),
        (
            {"country": "FR", "region": "x"},
            "organizations[0].holidays.region: unknown field (use country, subdivision, closed)",
        ),
    ],
)
def test_bad_holidays_are_refused_with_their_path(value: Any, error: str) -> None:
    assert errors_of(with_holidays(value)) == [error]


def test_bad_vendor_holidays_name_the_vendor() -> None:
    assert errors_of(with_holidays({"country": "QQ"}, section="vendors", index=1)) == [
        "vendors[1].holidays.country: no public holidays known for country 'QQ'"
    ]


async def test_holidays_are_stored_and_read_back(store: Store) -> None:
    doc = with_holidays({"country": "fr", "subdivision": "57", "closed": ["2026-12-24"]})
    await import_document(store, doc)
    async with store.read() as conn:
        org = await directory_db.get_organization(conn, id=doc["organizations"][0]["id"])
        vendor = await directory_db.get_vendor(conn, id="vmw")
        acme = await directory_db.get_organization(conn, id="acme")
    assert org is not None and vendor is not None and acme is not None
    assert org.holidays == sla.Holidays("FR", "57", frozenset({dt.date(2026, 12, 24)}))
    assert vendor.holidays == sla.Holidays(
        "IE", None, frozenset({dt.date(2026, 12, 24), dt.date(2026, 12, 31)})
    )
    assert acme.holidays == sla.NO_HOLIDAYS


# --------------------------------------------------------------------------- tickets


async def test_a_ticket_before_christmas_is_due_after_it(demo_store: Store) -> None:
    # ACME's tickets go to Nuage (Paris, closed on the 24th, French public holidays).
    alice = await demo_actor(demo_store, "alice.martin@acme.example")
    opened = await tickets.open_ticket(
        demo_store,
        alice,
        subject="vMotion fails",
        ea="411023871",
        severity=3,
        now=at("2026-12-23 17:00", "Europe/Paris"),
    )
    clock = opened.card.ticket.first_clock
    assert clock is not None and not clock.around_the_clock
    minutes = clock.target_minutes
    nuage = sla.Calendar.of("mon-fri 09:00-18:00", "Europe/Paris")
    # The same target without holidays would fall on the 24th or the 25th.
    assert sla.add_working_minutes(clock.started_at, minutes, nuage).date() < dt.date(2026, 12, 26)
    assert minutes == 480
    assert clock.due_at == at("2026-12-28 16:00", "Europe/Paris")

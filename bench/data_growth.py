"""Do EA look-ups stay flat as data grows? (p50 at 1 M licenses <= 1.2x p50 at 10 k.)

Two SQLite stores are generated with the same shape per EA (200 keys in 4 folders, 3
contracts, a subscription, two partner grants, two EAs per customer, a partner per 25
EAs), one with 50 EAs (10 k keys), one with 5000 EAs (1 M keys); only the number of EAs
differs. Rows go in through ``executemany`` on the raw SQLite connection in large
transactions (the importer validates row by row, far too slow for a million keys).

Then the ``/ea <EA>`` card and the ``/entitlements <EA>`` page (``bot.entitlements``) are
timed for random EAs, as the ATC of the partner holding the EA's main grant, twice: from
the database (the read model emptied before each call) and from the read model (the
same EAs again, their answers cached by the first pass). Every
statement they run is checked with ``EXPLAIN QUERY PLAN`` on the large store: a full scan
of a growing table or a sort is reported, since that is what would stop being flat.

    python bench/data_growth.py            # 10 k vs 100 k keys (quick)
    python bench/data_growth.py --full     # 10 k vs 1 M keys
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Table, event, insert  # noqa: E402
from sqlalchemy.dialects import sqlite as sqlite_dialect  # noqa: E402

from bot.domain import Permission  # noqa: E402
from bot.store import Store  # noqa: E402
from bot.store import tables as t  # noqa: E402
from bot.text import fold  # noqa: E402

KEYS_PER_EA = 200
EAS_PER_CUSTOMER = 2
EAS_PER_PARTNER = 25
FOLDERS = ("Home", "Production", "Lab", "DR")
PRODUCTS = (
    "vSphere Enterprise Plus",
    "vCenter Server Standard",
    "vSAN Enterprise",
    "NSX Advanced",
    "Horizon Enterprise",
    "Aria Operations",
    "Tanzu Standard",
    "VMware Cloud Foundation",
)
TYPES = ("standard",) * 16 + ("eval", "nfr", "iul", "oem")
ALL_PERMISSIONS = [p.value for p in Permission]
READ_PERMISSIONS = ["view_orders_contracts", "view_support_requests"]
TARGET_RATIO = 1.2
BATCH = 50_000
# Tables that grow with the data: a full scan of one of them is not flat.
GROWING = (
    "accounts",
    "grants",
    "folders",
    "licenses",
    "contracts",
    "subscriptions",
    "organizations",
    "contacts",
    "audit_entries",
)


def ea_number(i: int) -> str:
    return f"{410_000_000 + i:09d}"


def license_key(rng: random.Random) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUVWXYZ"
    return "-".join("".join(rng.choices(alphabet, k=5)) for _ in range(5))


def compiled_insert(table: Table, columns: Sequence[str]) -> str:
    """``INSERT INTO table (columns) VALUES (?, …)`` built by SQLAlchemy, positional."""
    compiled = insert(table).compile(
        dialect=sqlite_dialect.dialect(paramstyle="qmark"), column_keys=list(columns)
    )
    assert list(compiled.positiontup or []) == list(columns), compiled.positiontup
    return str(compiled)


@dataclass
class Shape:
    eas: int

    @property
    def licenses(self) -> int:
        return self.eas * KEYS_PER_EA

    @property
    def customers(self) -> int:
        return (self.eas + EAS_PER_CUSTOMER - 1) // EAS_PER_CUSTOMER

    @property
    def partners(self) -> int:
        return max(2, (self.eas + EAS_PER_PARTNER - 1) // EAS_PER_PARTNER)


def partner_of(i: int, shape: Shape) -> int:
    return i // EAS_PER_PARTNER


def atc_email(partner: int) -> str:
    return f"atc@partner{partner}.example"


def generate(path: Path, shape: Shape, seed: int = 7) -> float:
    """Fill a migrated SQLite file with ``shape``; returns the seconds it took."""
    rng = random.Random(seed)
    began = time.perf_counter()
    today = dt.date(2026, 11, 21)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-200000")

    def put(
        table: Table,
        columns: Sequence[str],
        rows: Iterator[tuple[Any, ...]] | list[tuple[Any, ...]],
    ) -> None:
        statement = compiled_insert(table, columns)
        batch: list[tuple[Any, ...]] = []
        db.execute("BEGIN")
        for row in rows:
            batch.append(row)
            if len(batch) >= BATCH:
                db.executemany(statement, batch)
                batch.clear()
        if batch:
            db.executemany(statement, batch)
        db.execute("COMMIT")

    org_columns = (
        "id",
        "kind",
        "name",
        "name_folded",
        "partner_type",
        "locale",
        "timezone",
        "business_hours",
        "queue_channel",
    )
    vendor_name = "VMware"
    put(
        t.organizations,
        org_columns,
        [
            (
                "vmw",
                "vendor",
                vendor_name,
                fold(vendor_name),
                None,
                "en",
                "Europe/Dublin",
                "mon-fri 08:00-20:00",
                "C0VMWGSS",
            )
        ],
    )
    put(
        t.vendors,
        ("id", "business_queue_channel", "severity_labels"),
        [("vmw", "C0VMWBIZ", json.dumps({str(n): f"Sev {n}" for n in range(1, 5)}))],
    )

    def orgs() -> Iterator[tuple[Any, ...]]:
        for p in range(shape.partners):
            name = f"Partner {p} SARL"
            yield (
                f"partner{p}",
                "partner",
                name,
                fold(name),
                "reseller",
                "en",
                "Europe/Paris",
                "mon-fri 09:00-18:00",
                f"C0P{p:08d}",
            )
        for c in range(shape.customers):
            name = f"Customer {c} SA"
            yield (
                f"customer{c}",
                "customer",
                name,
                fold(name),
                None,
                "en",
                "Europe/Paris",
                "mon-fri 09:00-18:00",
                None,
            )

    put(t.organizations, org_columns, orgs())

    def contacts() -> Iterator[tuple[Any, ...]]:
        for p in range(shape.partners):
            yield (atc_email(p), f"partner{p}", f"ATC {p}", json.dumps(["atc"]), "en")
            yield (
                f"agent@partner{p}.example",
                f"partner{p}",
                f"Agent {p}",
                json.dumps(["agent"]),
                "en",
            )
        for c in range(shape.customers):
            yield (
                f"superuser@customer{c}.example",
                f"customer{c}",
                f"Superuser {c}",
                json.dumps(["superuser"]),
                "en",
            )
            yield (
                f"buyer@customer{c}.example",
                f"customer{c}",
                f"Buyer {c}",
                json.dumps(["procurement"]),
                "en",
            )

    put(t.contacts, ("email", "org", "name", "roles", "locale"), contacts())

    put(
        t.accounts,
        ("ea", "vendor", "customer", "name", "superuser"),
        [
            (
                ea_number(i),
                "vmw",
                f"customer{i // EAS_PER_CUSTOMER}",
                f"Account {i}",
                f"superuser@customer{i // EAS_PER_CUSTOMER}.example",
            )
            for i in range(shape.eas)
        ],
    )

    def grants() -> Iterator[tuple[Any, ...]]:
        for i in range(shape.eas):
            main = partner_of(i, shape)
            other = (main + 1) % shape.partners
            yield (ea_number(i), f"partner{main}", json.dumps(ALL_PERMISSIONS), None)
            yield (
                ea_number(i),
                f"partner{other}",
                json.dumps(READ_PERMISSIONS),
                (today + dt.timedelta(days=365)).isoformat(),
            )

    put(t.grants, ("ea", "partner", "permissions", "until"), grants())
    put(
        t.folders,
        ("ea", "name"),
        [(ea_number(i), name) for i in range(shape.eas) for name in FOLDERS],
    )

    def licenses() -> Iterator[tuple[Any, ...]]:
        seen: set[str] = set()
        for i in range(shape.eas):
            ea = ea_number(i)
            seller = f"partner{partner_of(i, shape)}"
            for n in range(KEYS_PER_EA):
                key = license_key(rng)
                while key in seen:
                    key = license_key(rng)
                seen.add(key)
                kind = rng.choice(TYPES)
                expires = (
                    (today + dt.timedelta(days=rng.randint(-200, 900))).isoformat()
                    if kind == "eval" or n % 10 == 0
                    else None
                )
                yield (
                    key,
                    ea,
                    PRODUCTS[n % len(PRODUCTS)],
                    rng.choice((2, 4, 8, 16, 32)),
                    "CPU",
                    kind,
                    FOLDERS[n % len(FOLDERS)],
                    f"45{rng.randrange(10**8):08d}",
                    seller,
                    expires,
                )

    put(
        t.licenses,
        (
            "key",
            "ea",
            "product",
            "quantity",
            "unit",
            "type",
            "folder",
            "order_no",
            "sold_by",
            "expires",
        ),
        licenses(),
    )

    def contracts() -> Iterator[tuple[Any, ...]]:
        for i in range(shape.eas):
            ea = ea_number(i)
            yield (
                f"SNS-{i:07d}-A",
                ea,
                "production",
                "2026-01-01",
                "2027-12-31",
                json.dumps(list(PRODUCTS[:4])),
            )
            yield (
                f"SNS-{i:07d}-B",
                ea,
                "basic",
                "2026-03-01",
                "2027-02-28",
                json.dumps(list(PRODUCTS[4:])),
            )
            yield (
                f"SNS-{i:07d}-C",
                ea,
                "production",
                "2024-01-01",
                "2025-12-31",
                json.dumps(list(PRODUCTS[:2])),
            )

    put(t.contracts, ("number", "ea", "level", "starts", "ends", "products"), contracts())
    put(
        t.subscriptions,
        ("id", "ea", "service", "seller", "quantity", "ends"),
        [
            (
                f"SUB-{i}",
                ea_number(i),
                "VMware Cloud Disaster Recovery",
                f"partner{partner_of(i, shape)}",
                10,
                "2027-06-30",
            )
            for i in range(shape.eas)
        ],
    )
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return time.perf_counter() - began


def build_store(path: Path, shape: Shape) -> float:
    """A new SQLite file: the product's migrations, then the generated rows."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)

    async def migrate() -> None:
        store = Store(f"sqlite+aiosqlite:///{path}")
        await store.migrate()
        await store.dispose()

    asyncio.run(migrate())
    return generate(path, shape)


# --- timing -------------------------------------------------------------------------------


@dataclass
class Timing:
    name: str
    samples: list[float]

    @property
    def p50(self) -> float:
        return statistics.median(self.samples)


UseCase = Callable[[Store, Any, str, dt.datetime], Awaitable[Any]]


async def ea_card(store: Store, actor: Any, ea: str, now: dt.datetime) -> Any:
    from bot.entitlements import account_card

    return await account_card(store, actor, ea=ea, now=now)


async def ea_entitlements(store: Store, actor: Any, ea: str, now: dt.datetime) -> Any:
    from bot.entitlements import entitlements

    return await entitlements(store, actor, ea=ea, now=now)


USE_CASES: dict[str, UseCase] = {"/ea <EA>": ea_card, "/entitlements <EA>": ea_entitlements}


async def actors(store: Store, shape: Shape) -> dict[int, Any]:
    from bot.visibility import load_actor

    found: dict[int, Any] = {}
    async with store.read() as conn:
        for p in range(shape.partners):
            actor = await load_actor(conn, email=atc_email(p), default_locale="en")
            assert actor is not None, atc_email(p)
            found[p] = actor
    return found


MODES = ("database", "read model")


async def time_use_cases(
    stores: dict[str, tuple[Path, Shape]], *, calls: int, seed: int = 11
) -> dict[str, dict[str, Timing]]:
    """p50 of each use case on each store, per mode (``"<use case> (<mode>)"``). Calls
    alternate between the stores so that any drift of the machine's speed during the
    run weighs on both alike. "database": the read model is emptied before each call,
    every answer comes from SQLite; "read model": the same EAs, their answers cached."""
    opened = {label: Store(f"sqlite+aiosqlite:///{path}") for label, (path, _) in stores.items()}
    rngs = {label: random.Random(seed + n) for n, label in enumerate(stores)}
    now = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
    samples: dict[str, dict[str, list[float]]] = {label: {} for label in stores}
    warmup = calls // 5
    try:
        by_partner = {
            label: await actors(opened[label], shape) for label, (_, shape) in stores.items()
        }
        for name, use_case in USE_CASES.items():
            picks = {
                label: [rngs[label].randrange(shape.eas) for _ in range(calls + warmup)]
                for label, (_, shape) in stores.items()
            }
            for mode in MODES:
                if mode == "read model":  # every picked EA's answers cached first
                    for n in range(calls + warmup):
                        for label, (_, shape) in stores.items():
                            i = picks[label][n]
                            actor = by_partner[label][partner_of(i, shape)]
                            await use_case(opened[label], actor, ea_number(i), now)
                for n in range(calls + warmup):  # the first calls only warm caches up
                    for label, (_, shape) in stores.items():
                        store, i = opened[label], picks[label][n]
                        actor = by_partner[label][partner_of(i, shape)]
                        if mode == "database":
                            store.read_model.forget()
                        began = time.perf_counter()
                        await use_case(store, actor, ea_number(i), now)
                        if n >= warmup:
                            key = f"{name} ({mode})"
                            samples[label].setdefault(key, []).append(time.perf_counter() - began)
    finally:
        for store in opened.values():
            await store.dispose()
    return {
        label: {name: Timing(name, values) for name, values in by_name.items()}
        for label, by_name in samples.items()
    }


async def query_plans(path: Path, shape: Shape) -> tuple[list[str], list[str]]:
    """(statements of the use cases whose plan scans a growing table, those that sort:
    a sort after an index search handles one EA's rows, a bounded number)."""
    store = Store(f"sqlite+aiosqlite:///{path}")
    statements: list[tuple[str, Any]] = []

    @event.listens_for(store.engine.sync_engine, "before_cursor_execute")
    def capture(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
    ) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    now = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
    try:
        by_partner = await actors(store, shape)
        statements.clear()
        for use_case in USE_CASES.values():
            await use_case(store, by_partner[partner_of(1, shape)], ea_number(1), now)
    finally:
        await store.dispose()
    scans: list[str] = []
    sorts: list[str] = []
    db = sqlite3.connect(path)
    try:
        for statement, parameters in statements:
            plan = db.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
            for row in plan:
                detail = str(row[-1])
                words = detail.split()
                growing_scan = len(words) > 1 and words[0] == "SCAN" and words[1] in GROWING
                where = f"{detail}\n      in: {' '.join(statement.split())[:300]}"
                if growing_scan:
                    scans.append(where)
                elif "TEMP B-TREE" in detail and where not in sorts:
                    sorts.append(where)
    finally:
        db.close()
    return scans, sorts


def summarize(
    small: dict[str, Timing], large: dict[str, Timing], sizes: tuple[Shape, Shape]
) -> tuple[str, bool]:
    header = f"{'use case':<34}{'p50 ' + human(sizes[0].licenses):>14}{'p50 ' + human(sizes[1].licenses):>14}{'ratio':>8}  result"
    lines = [header, "-" * len(header)]
    passed = True
    for name in small:
        a, b = small[name].p50, large[name].p50
        ratio = b / a if a else float("inf")
        ok = ratio <= TARGET_RATIO
        passed = passed and ok
        lines.append(
            f"{name:<34}{a * 1000:>11.2f} ms{b * 1000:>11.2f} ms{ratio:>8.2f}  {'PASS' if ok else 'FAIL'}"
        )
    return "\n".join(lines), passed


def human(n: int) -> str:
    return f"{n // 1_000_000} M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000} k"


def run(args: argparse.Namespace) -> int:
    if args.workdir:
        workdir = Path(args.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        return prepare_and_measure(args, workdir)
    with tempfile.TemporaryDirectory(prefix="supportbot-growth-") as tmp:
        return prepare_and_measure(args, Path(tmp))


def prepare_and_measure(args: argparse.Namespace, workdir: Path) -> int:
    small = Shape(eas=args.small // KEYS_PER_EA)
    large = Shape(eas=(args.large or (1_000_000 if args.full else 100_000)) // KEYS_PER_EA)
    stores: dict[str, tuple[Path, Shape]] = {}
    for label, shape in (("small", small), ("large", large)):
        path = workdir / f"growth-{shape.licenses}.db"
        if not (args.reuse and path.exists()):
            seconds = build_store(path, shape)
            size = path.stat().st_size / 2**20
            print(
                f"{label}: generated {shape.licenses:,} licenses on {shape.eas:,} EAs in {seconds:.1f} s ({size:.0f} MiB)",
                flush=True,
            )
        stores[label] = (path, shape)
    calls = args.calls or (500 if args.full else 200)
    return asyncio.run(measure(args, stores, calls))


async def measure(
    args: argparse.Namespace, stores: dict[str, tuple[Path, Shape]], calls: int
) -> int:
    small, large = stores["small"][1], stores["large"][1]
    results = await time_use_cases(stores, calls=calls)
    problems, notes = await query_plans(stores["large"][0], large)
    text, passed = summarize(results["small"], results["large"], (small, large))
    print()
    print(
        f"{calls} calls per use case and store, random EAs, as the ATC of the EA's partner (SQLite)"
    )
    print(text)
    if problems:
        print("\nquery plans that scan a growing table (on the large store): not flat")
        for problem in problems:
            print(f"  - {problem}")
    else:
        print("\nquery plans: every statement reads through an index search (no full scan)")
    if notes:
        print("sorts over one EA's rows (bounded, not a growth issue):")
        for note in notes:
            print(f"  - {note}")
    if args.json:
        await asyncio.to_thread(
            Path(args.json).write_text,
            json.dumps(
                {
                    "small_licenses": small.licenses,
                    "large_licenses": large.licenses,
                    "p50_ms": {
                        name: {label: round(r[name].p50 * 1000, 3) for label, r in results.items()}
                        for name in results["small"]
                    },
                    "scans": problems,
                    "pass": passed,
                },
                indent=2,
            ),
        )
    print("PASS" if passed else f"FAIL: a p50 grew more than {TARGET_RATIO}x")
    return 0 if passed else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--full", action="store_true", help="1 M licenses for the large store (default 100 k)"
    )
    parser.add_argument("--small", type=int, default=10_000, help="licenses in the small store")
    parser.add_argument("--large", type=int, help="licenses in the large store")
    parser.add_argument("--calls", type=int, help="timed calls per use case (200, full 500)")
    parser.add_argument(
        "--workdir", help="keep the SQLite files here (default: a temporary folder, removed)"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="reuse stores already generated in --workdir"
    )
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())

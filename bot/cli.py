"""``supportbot``: serve, init-db, import, export, faq, outbox, console, demo."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import json
import logging
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bot import logs, resources
from bot.config import ConfigError, Settings, load_settings
from bot.domain import Ticket, ticket_ref
from bot.importer import DatasetError, import_file
from bot.store import Store
from bot.store import operations as operations_db
from bot.store import tickets as tickets_db

DEMO_DATA = resources.demo_dataset()


def _iso(value: Any) -> Any:
    return value.isoformat() if value is not None and hasattr(value, "isoformat") else value


def ticket_json(ticket: Ticket, events: list[Any]) -> dict[str, Any]:
    first = ticket.first_clock
    return {
        "id": ticket.ref,
        "ea": ticket.ea,
        "customer": ticket.customer,
        "partner": ticket.partner,
        "vendor": ticket.vendor,
        "tier": ticket.tier.value,
        "queue": ticket.queue.value,
        "severity": ticket.severity,
        "status": ticket.status.value,
        "subject": ticket.subject,
        "product": ticket.product,
        "opened_by": ticket.opened_by,
        "assignee": ticket.assignee,
        "created_at": _iso(ticket.created_at),
        "first_response_due": _iso(first.due_at if first else None),
        "first_responded_at": _iso(first.responded_at if first else None),
        "resolved_at": _iso(ticket.resolved_at),
        "escalated_at": _iso(ticket.escalated_at),
        "vendor_case": ticket.vendor_case,
        "clocks": [
            {
                "tier": c.tier.value,
                "started_at": _iso(c.started_at),
                "target_minutes": c.target_minutes,
                "around_the_clock": c.around_the_clock,
                "due_at": _iso(c.due_at),
                "responded_at": _iso(c.responded_at),
            }
            for c in ticket.clocks
        ],
        "events": [
            {"at": _iso(e.at), "actor": e.actor, "kind": e.kind, "data": e.data} for e in events
        ],
    }


async def export_tickets(store: Store) -> dict[str, Any]:
    async with store.read() as conn:
        tickets = await tickets_db.all_tickets(conn)
        events = await tickets_db.all_events(conn)
    return {"tickets": [ticket_json(t, events.get(t.id, [])) for t in tickets]}


class DatabaseUnavailable(Exception):
    """The database could not be opened or used: an unreachable server, an unwritable file."""


async def _with_store(settings: Settings, work: Any) -> Any:
    store = Store(settings.database_url)
    try:
        await store.migrate()
        return await work(store)
    except (SQLAlchemyError, OSError) as exc:
        if store.is_sqlite:
            # After a failed connect, aiosqlite's worker thread still reports back to the
            # event loop; give it that moment, or it fails loudly once asyncio.run closes it.
            await asyncio.sleep(0.05)
        cause = getattr(exc, "orig", None) or exc
        raise DatabaseUnavailable(f"{type(cause).__name__}: {cause}") from exc
    finally:
        await store.dispose()


def cmd_init_db(settings: Settings, _args: argparse.Namespace) -> int:
    async def work(store: Store) -> str | None:
        return await store.schema_revision()

    revision = asyncio.run(_with_store(settings, work))
    print(f"schema ready at revision {revision} ({_where(settings)})")
    return 0


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    async def work(store: Store) -> dict[str, int]:
        data = await import_file(store, args.file, replace=args.replace)
        return data.counts()

    try:
        counts = asyncio.run(_with_store(settings, work))
    except DatasetError as exc:
        print(
            f"import refused, nothing was written ({len(exc.errors)} problem(s)):", file=sys.stderr
        )
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    summary = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
    print(f"imported {args.file}: {summary or 'nothing'}")
    return 0


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    document = asyncio.run(_with_store(settings, export_tickets))
    print(json.dumps(document, indent=2 if args.pretty else None, ensure_ascii=False))
    return 0


def _asker(who: str | None) -> tuple[str | None, str | None]:
    """(audience, partner type) from ``--as``: an audience or a partner type."""
    from bot.faq import AUDIENCES

    if who is None or who in AUDIENCES:
        return who, None
    return "partner", who


def cmd_faq(settings: Settings, args: argparse.Namespace) -> int:
    from bot.faq import AskerContext, default_catalog

    if args.eval is not None:
        return _faq_eval(args)
    if args.question is None:
        print("supportbot faq: give a question, or --eval <file>", file=sys.stderr)
        return 2
    catalog = default_catalog()
    audience, partner_type = _asker(args.as_)
    result = catalog.search(
        args.question,
        locale=args.locale,
        audience=audience,
        partner_type=partner_type,
        limit=4,
    )
    if args.json:
        print(
            json.dumps(
                {
                    "slug": result.slug,
                    "score": round(result.score, 4),
                    # the runners-up, best first (the answer itself is "slug")
                    "alternatives": [
                        {"slug": s, "score": round(v, 4)}
                        for s, v in result.alternatives
                        if s != result.slug
                    ],
                },
                ensure_ascii=False,
            )
        )
        return 0
    if result.slug is None:
        print("no answer found")
        return 1
    # The question's language when clear, else --locale, else the default locale.
    locale = catalog.language_of(args.question) or args.locale or settings.default_locale
    asker = AskerContext(locale=locale, audience=audience, partner_type=partner_type)
    print(catalog.answer(result.slug, locale, asker))
    return 0


def _faq_eval(args: argparse.Namespace) -> int:
    """Print how the FAQ search does on an evaluation file (see bot.faq.load_questions)."""
    from bot.faq import (
        CONFIDENT_MARGIN,
        CONFIDENT_SCORE,
        FaqFormatError,
        calibrate,
        default_catalog,
        evaluate,
        load_questions,
        search_timings,
    )

    try:
        questions = load_questions(args.eval)
    except (OSError, FaqFormatError) as exc:
        print(f"supportbot faq --eval: {exc}", file=sys.stderr)
        return 1
    catalog = default_catalog()
    score, margin = CONFIDENT_SCORE, CONFIDENT_MARGIN
    if args.calibrate:
        score, margin, _, _ = calibrate(catalog, questions)
        print(f"calibrated on {args.eval}: score >= {score:.2f}, margin >= {margin:.0%}")
    result = evaluate(catalog, questions, confident_score=score, confident_margin=margin)
    timings = search_timings(catalog, questions, rounds=args.rounds)
    report = {
        "file": str(args.eval),
        "rule": {"score": score, "margin": margin},
        "languages": {
            language: {
                "questions": result.questions.get(language, 0),
                "answered_right": round(result.share(result.answered_right, language), 4),
                "answered_wrong": round(result.share(result.answered_wrong, language), 4),
                "right_first": round(result.share(result.first_right, language), 4),
                "language_right": round(result.share(result.language_right, language), 4),
                "language_unclear": round(result.share(result.language_unclear, language), 4),
            }
            for language in ("fr", "en", "all")
        },
        "off_topic": {"questions": result.off_topic, "answered": result.off_topic_answered},
        "search_us": {
            "mean": round(timings.mean, 1),
            "p99": round(timings.p99, 1),
            "cpu_mean": round(timings.cpu_mean, 1),
            "cpu_p99": round(timings.cpu_p99, 1),
        },
    }
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return 0
    print(f"{args.eval}: rule score >= {score:.2f}, margin >= {margin:.0%}")
    print(
        f"{'':5} {'questions':>9} {'answered right':>14} {'answered wrong':>14}"
        f" {'right first':>11} {'language right':>14} {'unclear':>8}"
    )
    for language, row in report["languages"].items():  # type: ignore[attr-defined]
        print(
            f"{language:5} {row['questions']:>9} {row['answered_right']:>14.1%}"
            f" {row['answered_wrong']:>14.1%} {row['right_first']:>11.1%}"
            f" {row['language_right']:>14.1%} {row['language_unclear']:>8.1%}"
        )
    if result.off_topic:
        print(f"off-topic: {result.off_topic_answered} of {result.off_topic} answered directly")
    print(
        f"search: mean {timings.mean:.0f} µs, p99 {timings.p99:.0f} µs per question;"
        f" CPU time mean {timings.cpu_mean:.0f} µs, p99 {timings.cpu_p99:.0f} µs"
        f" ({args.rounds} rounds)"
    )
    if args.misses:
        for question, found, confident in result.misses:
            how = "answered" if confident else "offered"
            print(
                f"  miss [{question.language} {question.audience}] {question.text!r}:"
                f" {how} {found}, expected {question.slug}"
            )
    return 0


def cmd_outbox(settings: Settings, args: argparse.Namespace) -> int:
    """Dead outbox entries: list them, deliver one again, or give one up for good."""
    if args.action == "list":

        async def listing(store: Store) -> list[operations_db.DeadEntry]:
            async with store.read() as conn:
                return await operations_db.dead_entries(conn)

        dead = asyncio.run(_with_store(settings, listing))
        if args.json:
            print(json.dumps([_dead_json(entry) for entry in dead], ensure_ascii=False))
            return 0
        if not dead:
            print("no dead outbox entries")
            return 0
        print(f"{len(dead)} dead outbox entr{'y' if len(dead) == 1 else 'ies'}:")
        for entry in dead:
            ticket = f" {ticket_ref(entry.ticket_id)}" if entry.ticket_id else ""
            print(
                f"  #{entry.id} {entry.kind} {entry.method}{ticket}, owed since "
                f"{_iso(entry.created_at)}, {entry.attempts} attempt(s): {entry.last_error or '-'}"
            )
        return 0

    async def change(store: Store) -> bool:
        async with store.write() as conn:
            if args.action == "retry":
                return await operations_db.retry_dead(
                    conn, entry_id=args.id, now=dt.datetime.now(dt.UTC)
                )
            return await operations_db.drop_dead(conn, entry_id=args.id)

    if not asyncio.run(_with_store(settings, change)):
        print(f"no dead outbox entry #{args.id} (see: supportbot outbox list)", file=sys.stderr)
        return 1
    if args.action == "retry":
        print(f"outbox entry #{args.id} is due again; a running bot delivers it shortly")
    else:
        print(f"outbox entry #{args.id} dropped: it will not be delivered")
    return 0


def _dead_json(entry: operations_db.DeadEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "kind": entry.kind,
        "method": entry.method,
        "ticket": ticket_ref(entry.ticket_id) if entry.ticket_id else None,
        "attempts": entry.attempts,
        "created_at": _iso(entry.created_at),
        "last_error": entry.last_error,
    }


def cmd_serve(settings: Settings, _args: argparse.Namespace) -> int:
    from handlers.app import serve

    settings.require_slack()
    settle_heap()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings))
    return 0


def settle_heap() -> None:
    """Load what lives as long as the process (the code, the FAQ catalog and its
    compiled templates), then leave it out of the garbage collector's full passes: each
    of them otherwise walks every object of the process, a pause of tens of milliseconds
    in the middle of a request, now and then, under load."""
    from bot.faq import default_catalog

    default_catalog()
    gc.collect()
    gc.freeze()


async def _console(settings: Settings, email: str | None, *, seed_demo: bool) -> int:
    from handlers.console import Console
    from handlers.services import Services

    # The console answers unknown commands itself; Bolt's suggestions are noise here.
    logging.getLogger("slack_bolt").setLevel(logging.ERROR)
    store = Store(settings.database_url)
    try:
        await store.migrate()
        if seed_demo:
            if await store.is_empty():
                await import_file(store, DEMO_DATA)
                print(f"demo data loaded into {_where(settings)}")
            else:
                print(f"{_where(settings)} already has data: opening it as it is")
        console = Console(Services(store=store, settings=settings))
        await console.start()
        try:
            if email:
                await console.switch(email)
            elif seed_demo:
                print("Try: as alice.martin@acme.example   then   /supportbot whoami")
            await console.run(sys.stdin, interactive=sys.stdin.isatty())
        finally:
            await console.stop()
        return 0
    finally:
        await store.dispose()


def cmd_console(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_console(settings, args.as_email, seed_demo=False))


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_console(settings, args.as_email, seed_demo=True))


def cmd_start(settings: Settings, args: argparse.Namespace) -> int:
    """In Slack when a bot token is configured, else the local console on the demo data."""
    if settings.has_slack:
        return cmd_serve(settings, args)
    print("No SLACK_BOT_TOKEN set: opening the local console on the demo data (no Slack needed).")
    return cmd_demo(settings, args)


def _where(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).render_as_string(hide_password=True)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="supportbot", description="Partner support bot for Slack")
    root.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser(
        "serve", help="run the bot (Socket Mode with SLACK_APP_TOKEN, else HTTP)"
    ).set_defaults(run=cmd_serve)
    sub.add_parser("init-db", help="create or upgrade the database schema").set_defaults(
        run=cmd_init_db
    )

    imp = sub.add_parser("import", help="load a dataset (YAML or JSON), all or nothing")
    imp.add_argument("file", type=Path)
    imp.add_argument("--replace", action="store_true", help="replace everything already stored")
    imp.set_defaults(run=cmd_import)

    exp = sub.add_parser("export", help="export data as JSON")
    exp.add_argument("what", choices=["tickets"])
    exp.add_argument("--json", action="store_true", default=True, help="JSON output (the default)")
    exp.add_argument("--pretty", action="store_true", help="indent the JSON")
    exp.set_defaults(run=cmd_export)

    faq = sub.add_parser(
        "faq", help="find the FAQ entry for a question, or measure the search on a file"
    )
    faq.add_argument("question", nargs="?")
    faq.add_argument("--locale", choices=["fr", "en"])
    faq.add_argument(
        "--as",
        dest="as_",
        choices=["customer", "partner", "vendor", "reseller", "distributor", "msp", "oem", "vspp"],
        help="ask as this audience (or partner type)",
    )
    faq.add_argument(
        "--json", action="store_true", help="print slug, score and alternatives as JSON"
    )
    faq.add_argument(
        "--eval",
        type=Path,
        metavar="FILE",
        help="print the share of questions answered directly and rightly, per language",
    )
    faq.add_argument(
        "--calibrate", action="store_true", help="with --eval: calibrate the rule on FILE first"
    )
    faq.add_argument("--misses", action="store_true", help="with --eval: list the misses")
    faq.add_argument("--rounds", type=int, default=5, help="with --eval: timing passes")
    faq.set_defaults(run=cmd_faq)

    out = sub.add_parser(
        "outbox",
        help="dead outbox entries (given up after retries): list, retry or drop",
        description="Outbox entries the bot gave up delivering: list them, make one due "
        "again (retry) or give it up for good (drop).",
    )
    out_sub = out.add_subparsers(dest="action", required=True, metavar="ACTION")
    out_list = out_sub.add_parser("list", help="the dead entries, oldest first")
    out_list.add_argument("--json", action="store_true", help="print them as JSON")
    for action, text in (
        ("retry", "deliver a dead entry again (due now, attempts counted afresh)"),
        ("drop", "give a dead entry up for good (kept, never delivered)"),
    ):
        one = out_sub.add_parser(action, help=text)
        one.add_argument("id", type=_entry_id, help="the entry's number, as listed")
    out.set_defaults(run=cmd_outbox)

    start = sub.add_parser(
        "start", help="serve in Slack when SLACK_BOT_TOKEN is set, else the demo console"
    )
    start.add_argument(
        "--as", dest="as_email", metavar="EMAIL", help="console: act as this contact"
    )
    start.set_defaults(run=cmd_start)

    con = sub.add_parser("console", help="local playground: type slash commands, no Slack needed")
    con.add_argument("--as", dest="as_email", metavar="EMAIL", help="act as this contact")
    con.set_defaults(run=cmd_console)

    demo = sub.add_parser(
        "demo", help="seed the demo dataset (if the database is empty) and open the console"
    )
    demo.add_argument("--as", dest="as_email", metavar="EMAIL", help="act as this contact")
    demo.set_defaults(run=cmd_demo)
    return root


def _entry_id(text: str) -> int:
    try:
        value = int(text.removeprefix("#"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an entry number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"not an entry number: {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
        serving = args.command == "serve" or (args.command == "start" and settings.has_slack)
        logs.configure(
            level=logging.INFO if args.verbose or serving else logging.WARNING,
            log_format=settings.log_format,
        )
        return int(args.run(settings, args))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except DatabaseUnavailable as exc:
        # One line; the traceback with -v.
        if args.verbose:
            raise
        print(f"database error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

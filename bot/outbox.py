"""The outbox worker: delivers what use cases owe Slack, and posts SLA reminders.

Use cases write Web API calls to the outbox table in their own transaction
(``bot.notify``); this worker claims due entries, calls Slack, and records the result:

- a ``user_email`` payload (a direct message) is sent to the person's Slack user id,
  known from the directory or looked up with ``users.lookupByEmail`` (then remembered);
- a ``chat.update`` of a ticket's queue message gets its channel and ts from the ticket,
  recorded there once the queue post was delivered; within one ticket, each stream
  (its queue message and updates, the customer's notices) goes out in order;
- a failure is retried with exponential backoff (1 s, 2 s, 4 s … at most 5 min), a 429
  after its ``Retry-After``; errors that no retry can fix (``channel_not_found``,
  ``invalid_blocks``…) make the entry dead, with the error logged.

The reminder scanner enqueues one reminder per clock and mark (75 %, breach) under a
dedupe key, so several bot instances scanning at once still send each reminder once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, cast

from markupsafe import Markup
from slack_sdk.errors import SlackApiError

from bot import identity, notify, threads
from bot.blocks.tickets import slack_date
from bot.domain import Permission, Queue, ThreadSide, Ticket, TicketClock, Tier
from bot.installations import no_installation
from bot.render import mention, t
from bot.store import Store
from bot.store import accounts as accounts_db
from bot.store import directory as directory_db
from bot.store import outbox as outbox_db
from bot.store import threads as threads_db
from bot.store import tickets as tickets_db
from bot.store.outbox import OutboxEntry
from bot.tickets import QUEUE_POST
from bot.visibility import mask_keys

log = logging.getLogger(__name__)

MAX_BACKOFF = dt.timedelta(minutes=5)
MAX_ATTEMPTS = 60  # about four hours of retries at the capped delay
WAIT_FOR_EARLIER = dt.timedelta(seconds=1)
# Errors a retry cannot fix: the entry is given up (dead) and logged.
# Messages of one ticket that must reach Slack in the order they were owed: the queue
# message and its updates; the customer's notices. A stream held up (a person Slack
# cannot reach yet, say) never holds up another: the vendor still gets its escalation.
STREAMS: tuple[frozenset[str], ...] = (
    frozenset({QUEUE_POST, "queue_update"}),
    frozenset({"customer_notice"}),
    # each thread of a ticket (customer, partner, vendor): its messages and card updates
    *(frozenset({kind}) for kind in threads.THREAD_KINDS),
)


def stream_of(kind: str) -> frozenset[str]:
    return next((stream for stream in STREAMS if kind in stream), frozenset({kind}))


PERMANENT_ERRORS = frozenset(
    {
        "account_inactive",
        "cant_update_message",
        "channel_not_found",
        "edit_window_closed",
        "invalid_arguments",
        "invalid_auth",
        "invalid_blocks",
        "invalid_blocks_format",
        "is_archived",
        "message_not_found",
        "missing_scope",
        "msg_too_long",
        "no_text",
        "not_authed",
        "not_in_channel",
        "restricted_action",
        "token_revoked",
        "too_many_attachments",
        "user_not_found",
        "users_not_found",
    }
)


class WebClient(Protocol):
    """What the worker needs of ``slack_sdk.web.async_client.AsyncWebClient``."""

    async def api_call(
        self,
        api_method: str,
        *,
        http_verb: str = ...,
        params: dict[str, Any] | None = ...,
        json: dict[str, Any] | None = ...,
    ) -> Any: ...


class Doors(Protocol):
    """What the worker needs of ``bot.installations.Installations``: the client that
    speaks for a team (None: no installation there)."""

    async def client_for(
        self, *, enterprise_id: str | None, team_id: str | None
    ) -> WebClient | None: ...


class _OneDoor:
    """A single client for every team (single-workspace mode, tests)."""

    def __init__(self, client: WebClient) -> None:
        self.client = client

    async def client_for(self, *, enterprise_id: str | None, team_id: str | None) -> WebClient:
        return self.client


# Which (enterprise, team) installation delivers an entry, given the entry and its payload.
Door = Callable[[OutboxEntry, dict[str, Any]], Awaitable[tuple[str | None, str | None]]]


async def door_in_payload(
    _entry: OutboxEntry, payload: dict[str, Any]
) -> tuple[str | None, str | None]:
    """The default door: the ``enterprise`` and ``team`` keys the entry was owed with."""
    enterprise, team = payload.get(notify.ENTERPRISE), payload.get(notify.TEAM)
    return (
        enterprise if isinstance(enterprise, str) else None,
        team if isinstance(team, str) else None,
    )


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def backoff(attempts: int) -> dt.timedelta:
    """Delay before the next try after ``attempts`` failed ones (1 s, 2 s, 4 s …)."""
    return min(dt.timedelta(seconds=2 ** min(attempts, 16)), MAX_BACKOFF)


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    with contextlib.suppress(Exception):
        value = headers.get(name)
        if value is not None:
            return str(value)
    if isinstance(headers, Mapping):
        for key, value in headers.items():
            if str(key).lower() == name.lower():
                return str(value)
    return None


async def _first_of(*events: asyncio.Event, timeout: float) -> None:  # noqa: ASYNC109
    """Wait until one of ``events`` is set, or ``timeout`` seconds."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


class _Postpone(Exception):
    """The entry waits on another one (e.g. its queue post); no attempt is counted."""


class _GiveUp(Exception):
    """The entry can never be delivered."""


class OutboxWorker:
    """Delivers the outbox. Several workers (processes, hosts) may run on one database:
    claiming is atomic, and each claim holds for ``lease``."""

    def __init__(
        self,
        store: Store,
        installations: Doors | WebClient,
        *,
        worker_id: str,
        clock: Callable[[], dt.datetime] = utc_now,
        lease: dt.timedelta = dt.timedelta(seconds=60),
        batch: int = 20,
        door: Door | None = None,
    ) -> None:
        """``installations``: whose client delivers each entry (a plain client: that
        one for all). ``door``: which (enterprise, team) delivers an entry; by default
        the ``enterprise`` / ``team`` keys of its payload."""
        self.store = store
        self.installations: Doors = (
            cast(Doors, installations)
            if hasattr(installations, "client_for")
            else _OneDoor(cast(WebClient, installations))
        )
        # Several installations: by default each entry goes through a workspace of the
        # person or channel it is for (bot.identity's doors).
        several = bool(getattr(self.installations, "is_oauth", False))
        self.door: Door = door or (self._door_by_identity if several else door_in_payload)
        self.worker_id = worker_id
        self.clock = clock
        self.lease = lease
        self.batch = batch
        self._given_up: set[int] = set()  # entries made dead in the current round

    # --- delivery -----------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim the due entries and try each once; returns how many were delivered."""
        now = self.clock()
        async with self.store.write(reference=False) as conn:
            entries = await outbox_db.claim(
                conn, worker=self.worker_id, now=now, lease=self.lease, limit=self.batch
            )
            # Read within the claim: no transaction of its own before the first call.
            owed = await outbox_db.owed_before(conn, entries=entries) if entries else []
        # Entries of a ticket that wait on an older one of their stream: owed outside
        # this round, or in it and not delivered (yet, or at all).
        waiting: list[tuple[int, int, str]] = list(owed)
        self._given_up.clear()
        delivered = 0
        for entry in entries:
            if await self._deliver(entry, waiting=waiting):
                delivered += 1
            elif entry.ticket_id is not None and entry.id not in self._given_up:
                waiting.append((entry.id, entry.ticket_id, entry.kind))
        return delivered

    async def run_forever(self, stop_event: asyncio.Event, *, interval: float = 0.5) -> None:
        """Deliver until ``stop_event`` is set: again at once while there is work, at
        once when a transaction adds entries (this process's, or on PostgreSQL another
        instance's, heard through NOTIFY), else every ``interval`` seconds as a
        fallback. A failing round is logged, never fatal."""
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()

        def waker() -> None:
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                wake.set()
            elif not loop.is_closed():
                loop.call_soon_threadsafe(wake.set)

        self.store.outbox_waiters.add(waker)
        try:
            while not stop_event.is_set():
                wake.clear()
                try:
                    found = await self.run_once()
                except Exception:
                    log.exception("outbox round failed; trying again shortly")
                    found = 0
                if found:
                    await asyncio.sleep(0)
                    continue
                await _first_of(wake, stop_event, timeout=interval)
        finally:
            self.store.outbox_waiters.discard(waker)

    async def run_reminders(self, stop_event: asyncio.Event, *, interval: float = 30.0) -> None:
        """Scan for due SLA reminders every ``interval`` seconds until stopped."""
        while not stop_event.is_set():
            try:
                await self.scan_reminders(self.clock())
            except Exception:
                log.exception("reminder scan failed; trying again shortly")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_event.wait(), interval)

    async def _deliver(self, entry: OutboxEntry, *, waiting: list[tuple[int, int, str]]) -> bool:
        now = self.clock()
        try:
            client = await self._client(entry)
            payload = await self._prepare(entry, client, waiting=waiting)
            response = await client.api_call(entry.method, json=payload)
        except _Postpone:
            async with self.store.write(reference=False) as conn:
                await outbox_db.postpone(
                    conn, entry_id=entry.id, worker=self.worker_id, until=now + WAIT_FOR_EARLIER
                )
            return False
        except _GiveUp as exc:
            await self._fail(entry, str(exc), retry_at=None)
            return False
        except SlackApiError as exc:
            await self._failed_call(entry, exc, now)
            return False
        except Exception as exc:  # transport errors and the like: a later try may work
            log.warning("outbox entry %s: %s", entry.id, exc, exc_info=True)
            await self._fail(
                entry, f"{type(exc).__name__}: {exc}", retry_at=self._retry_at(entry, now)
            )
            return False
        data = dict(getattr(response, "data", None) or {})
        # Reads the partner organization (reference data): from the read model, at the
        # version this transaction checks.
        async with self.store.write() as conn:
            sent = await outbox_db.mark_sent(
                conn,
                entry_id=entry.id,
                worker=self.worker_id,
                at=self.clock(),
                result={k: data[k] for k in ("channel", "ts") if k in data},
            )
            if sent:
                await threads.record_delivery(conn, entry, data)
        return sent

    async def _door_by_identity(
        self, entry: OutboxEntry, payload: dict[str, Any]
    ) -> tuple[str | None, str | None]:
        """The installation that reaches the entry's reader: the team it was owed with,
        else the first workspace the bot is installed in among those of the person (a
        direct message) or of the organization holding the channel (a post)."""
        named = await door_in_payload(entry, payload)
        if named != (None, None):
            return named
        async with self.store.read() as conn:
            email = payload.get("user_email")
            channel = payload.get("channel")
            if isinstance(email, str):
                candidates = await identity.doors_to_person(conn, email)
            else:
                if threads.THREAD_OF in payload and entry.ticket_id is not None:
                    found = await threads_db.threads_of(conn, ticket_id=entry.ticket_id)
                    thread = found.get(ThreadSide(payload[threads.THREAD_OF]))
                    channel = thread.channel if thread is not None else None
                candidates = (
                    await identity.doors_to_channel(conn, channel)
                    if isinstance(channel, str)
                    else []
                )
        for candidate in candidates:
            reach = await self.installations.client_for(
                enterprise_id=candidate.enterprise, team_id=candidate.team
            )
            if reach is not None:
                return candidate.enterprise, candidate.team
        return None, None  # the one installation, when there is exactly one

    async def _client(self, entry: OutboxEntry) -> WebClient:
        """The client of the installation that delivers ``entry``; none there: the
        entry is given up once (no retry brings an uninstalled app back)."""
        enterprise, team = await self.door(entry, dict(entry.payload))
        client = await self.installations.client_for(enterprise_id=enterprise, team_id=team)
        if client is None:
            raise _GiveUp(no_installation(enterprise, team))
        return client

    async def _prepare(
        self, entry: OutboxEntry, client: WebClient, *, waiting: list[tuple[int, int, str]]
    ) -> dict[str, Any]:
        """The payload as Slack gets it: the DM's user id, the update's channel and ts.
        ``waiting``: the ticket entries still owed, as ``(id, ticket_id, kind)``."""
        payload = dict(entry.payload)
        if entry.ticket_id is not None:
            stream = stream_of(entry.kind)
            if any(
                owed_id < entry.id and ticket_id == entry.ticket_id and kind in stream
                for owed_id, ticket_id, kind in waiting
            ):
                raise _Postpone  # a stream's messages go out in the order they were owed
        if threads.THREAD_OF in payload:
            try:
                payload = await threads.thread_payload(self.store, entry)
            except threads.NotReady:
                raise _Postpone from None
            except threads.Gone as exc:
                raise _GiveUp(str(exc)) from None
        payload.pop(notify.TEAM, None)
        payload.pop(notify.ENTERPRISE, None)
        email = payload.pop("user_email", None)
        if email is not None and not payload.get("channel"):
            payload["channel"] = await self._user_id(client, str(email))
        if entry.method == "chat.update" and "ts" not in payload:
            if entry.ticket_id is None:
                raise _GiveUp("chat.update without a ticket")
            async with self.store.read() as conn:
                ticket = await tickets_db.get_ticket(conn, ticket_id=entry.ticket_id)
                post_owed = await outbox_db.has_pending(
                    conn, ticket_id=entry.ticket_id, kind=QUEUE_POST
                )
            if ticket is None:
                raise _GiveUp(f"ticket {entry.ticket_id} is gone")
            if ticket.queue_message_channel is None or ticket.queue_message_ts is None:
                if post_owed:
                    raise _Postpone
                raise _GiveUp(f"{ticket.ref} has no delivered queue message to update")
            payload["channel"] = ticket.queue_message_channel
            payload["ts"] = ticket.queue_message_ts
        return payload

    async def _user_id(self, client: WebClient, email: str) -> str:
        async with self.store.read() as conn:
            contact = await directory_db.get_contact(conn, email=email)
        if contact is not None and contact.slack_user_id:
            return contact.slack_user_id
        response = await client.api_call(
            "users.lookupByEmail", http_verb="GET", params={"email": email}
        )
        user = (getattr(response, "data", None) or {}).get("user") or {}
        user_id = user.get("id")
        if not isinstance(user_id, str) or not user_id:
            raise _GiveUp(f"no Slack user for {email}")
        if contact is not None:
            async with self.store.write() as conn:
                await directory_db.link_slack_user(conn, email=contact.email, user_id=user_id)
        return user_id

    def _retry_at(self, entry: OutboxEntry, now: dt.datetime) -> dt.datetime | None:
        if entry.attempts + 1 >= MAX_ATTEMPTS:
            return None
        return now + backoff(entry.attempts)

    async def _failed_call(self, entry: OutboxEntry, exc: SlackApiError, now: dt.datetime) -> None:
        response = exc.response
        status = getattr(response, "status_code", None)
        error = ""
        with contextlib.suppress(Exception):
            error = str(response.get("error") or "")
        detail = f"HTTP {status}: {error or 'error'}"
        if status == 429:
            retry_after = _header(getattr(response, "headers", None), "Retry-After")
            seconds = 1.0
            with contextlib.suppress(TypeError, ValueError):
                seconds = max(float(retry_after or 1), 0.0)
            retry_at = now + dt.timedelta(seconds=seconds)
            await self._fail(entry, detail, retry_at=retry_at)
            return
        if error in PERMANENT_ERRORS:
            await self._fail(entry, detail, retry_at=None)
            return
        await self._fail(entry, detail, retry_at=self._retry_at(entry, now))

    async def _fail(self, entry: OutboxEntry, error: str, *, retry_at: dt.datetime | None) -> None:
        if retry_at is None:
            log.error(
                "outbox entry %s (%s %s) given up after %s attempt(s): %s",
                entry.id,
                entry.kind,
                entry.method,
                entry.attempts + 1,
                error,
            )
        else:
            log.warning(
                "outbox entry %s (%s) failed, retry at %s: %s",
                entry.id,
                entry.method,
                retry_at,
                error,
            )
        async with self.store.write(reference=False) as conn:
            await outbox_db.mark_failed(
                conn, entry_id=entry.id, worker=self.worker_id, error=error, retry_at=retry_at
            )
        if retry_at is None:
            self._given_up.add(entry.id)  # dead: what follows it in its stream goes on

    # --- SLA reminders --------------------------------------------------------------

    async def scan_reminders(self, now: dt.datetime | None = None) -> int:
        """Owe one reminder for each running clock past its 75 % mark or its due time
        (each sent once), in the holding tier's queue channel, mentioning the assignee or the
        queue. Returns how many were newly enqueued."""
        now = now or self.clock()
        enqueued = 0
        async with self.store.write() as conn:
            for mark, suffix in (("due", "breach"), ("warn", "warn")):
                found = await tickets_db.clocks_reaching(conn, mark=mark, now=now, unreminded=True)
                for clock, ticket in found:
                    if await self._remind(conn, clock, ticket, suffix, now):
                        enqueued += 1
        return enqueued

    async def _remind(
        self, conn: Any, clock: TicketClock, ticket: Ticket, suffix: str, now: dt.datetime
    ) -> bool:
        vendor = await directory_db.get_vendor(conn, id=ticket.vendor)
        if vendor is None:
            return False
        if ticket.tier is Tier.PARTNER and ticket.partner is not None:
            partner = await directory_db.get_organization(conn, id=ticket.partner)
            channel = partner.queue_channel if partner else None
            locale = partner.locale if partner else "en"
        else:
            org = await directory_db.get_organization(conn, id=vendor.id)
            locale = org.locale if org else "en"
            channel = (
                vendor.business_queue_channel or vendor.queue_channel
                if ticket.queue is Queue.BUSINESS
                else vendor.queue_channel
            )
        if channel is None:
            return False
        assignee = (
            await directory_db.get_contact(conn, email=ticket.assignee) if ticket.assignee else None
        )
        # The assignee, or the whole queue when nobody has taken the ticket yet.
        who = (
            mention(assignee.slack_user_id)
            if assignee is not None and assignee.slack_user_id
            else Markup("<!here>")
        )
        due = clock.due_at
        subject = ticket.subject
        if ticket.tier is Tier.PARTNER and ticket.partner is not None:
            # A key typed in the subject stays masked for a partner that may not read keys.
            grant = await accounts_db.get_grant(conn, ea=ticket.ea, partner=ticket.partner)
            if grant is None or not grant.allows(Permission.VIEW_LICENSE_KEYS, now.date()):
                subject = mask_keys(subject)
        text = t(
            f"tickets.reminder_{suffix}",
            locale,
            ticket=ticket.ref,
            severity=vendor.severity_label(ticket.severity),
            subject=subject,
            who=who,
            due=slack_date(due) if due is not None else "—",
        )
        return await notify.to_channel(
            conn,
            channel=channel,
            text=text,
            at=now,
            kind="reminder",
            ticket_id=ticket.id,
            dedupe_key=f"reminder:{clock.id}:{suffix}",
        )

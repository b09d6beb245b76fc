"""Replay and repeated-delivery guard for Slack's signed HTTP requests.

Slack's signature proves that a request comes from Slack and was signed less than five
minutes ago; it does not stop the same signed request from arriving twice inside those
five minutes (whoever captured it replays it, a proxy retries it). Slack itself delivers
something again only for the Events API: when the first delivery was not answered in
three seconds or failed, it sends the event again with ``X-Slack-Retry-Num``, a fresh
timestamp and signature, and the same ``event_id``.

:class:`ReplayGuard` is the first of the app's own Bolt middleware, so it runs after
Bolt has checked the signature and the timestamp: only authentic requests are
remembered, and an unsigned flood can neither fill nor flush its memory. For each
accepted request it remembers

- its timestamp and signature (the signature covers timestamp and body): the same pair
  again is a replay and answers 401;
- its delivery id, the ``event_id`` of an event or the ``trigger_id`` of a slash command
  or an interaction (Slack makes a new one for every user action): the same delivery
  again, freshly signed, is Slack delivering it twice, and is acknowledged (200) without
  being processed a second time.

The HTTP endpoint dispatches through :func:`dispatch`: a delivery that failed on our
side (5xx) is forgotten again, so that Slack's retry of it is processed rather than
acknowledged and lost; a timestamp that is not a number is refused before Bolt sees it.

The memory is per process and bounded (:data:`CAPACITY` keys, each kept until its
window ends). Several instances behind a load balancer each have their own: a replay
sent to another instance is not recognised by this guard (see SECURITY.md); ticket
creation stays idempotent across instances through the store's request keys.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

log = logging.getLogger(__name__)

# Bolt accepts a timestamp at most this far from now (behind or ahead), so a signature
# is usable until this long after its timestamp; it is remembered until then.
SIGNATURE_WINDOW = 5 * 60
# Slack retries an event at once, after a minute and after five more minutes.
DELIVERY_WINDOW = 15 * 60
# About 190 bytes of memory each (19 MB when full); two per request: enough for ~160
# requests a second sustained over the five-minute window. Beyond it the entries closest
# to their end are dropped early (and a warning logged).
CAPACITY = 100_000
EVICTION_WARNING_INTERVAL = 60.0
_CONTEXT_KEY = "replay_guard_delivery"


class DeliveryMemory:
    """A bounded set of keys, each forgotten at its own expiry time."""

    def __init__(self, *, capacity: int = CAPACITY, clock: Callable[[], float] = time.time) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self.clock = clock
        self._expiry: dict[bytes, float] = {}
        self._heap: list[tuple[float, bytes]] = []  # may hold stale pairs (lazy deletion)
        self._last_eviction_warning = float("-inf")

    @staticmethod
    def _digest(key: str) -> bytes:
        return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def __len__(self) -> int:
        self._purge()
        return len(self._expiry)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        expiry = self._expiry.get(self._digest(key))
        return expiry is not None and expiry > self.clock()

    def add(self, key: str, *, until: float) -> bool:
        """Remember ``key`` until ``until`` (a ``time.time()`` value); False, and nothing
        changes, when it is remembered already."""
        self._purge()
        digest = self._digest(key)
        if digest in self._expiry:
            return False
        while len(self._expiry) >= self.capacity:
            self._evict_one()
        self._expiry[digest] = until
        heapq.heappush(self._heap, (until, digest))
        return True

    def discard(self, key: str) -> None:
        self._expiry.pop(self._digest(key), None)

    def _purge(self) -> None:
        now = self.clock()
        while self._heap and self._heap[0][0] <= now:
            until, digest = heapq.heappop(self._heap)
            if self._expiry.get(digest) == until:
                del self._expiry[digest]
        if len(self._heap) > 2 * max(len(self._expiry), 1024):
            # Discarded keys leave their pair behind; rebuild once they dominate.
            self._heap = [(until, digest) for digest, until in self._expiry.items()]
            heapq.heapify(self._heap)

    def _evict_one(self) -> None:
        while self._heap:
            until, digest = heapq.heappop(self._heap)
            if self._expiry.get(digest) == until:
                del self._expiry[digest]
                now = self.clock()
                if now - self._last_eviction_warning >= EVICTION_WARNING_INTERVAL:
                    self._last_eviction_warning = now
                    log.warning(
                        "replay guard full (%d keys): forgetting entries before their window ends",
                        self.capacity,
                    )
                return


def _header(req: AsyncBoltRequest, name: str) -> str | None:
    values = req.headers.get(name)
    return str(values[0]) if values else None


def _is_timestamp(value: str) -> bool:
    # ASCII only: str.isdigit() also accepts "²" or "١", which int() refuses or reads.
    return value.isascii() and value.isdigit()


def delivery_id(body: Mapping[str, Any]) -> str | None:
    """What stays the same when Slack delivers one thing twice: the event id of an
    Events API callback, else the trigger id of a command or an interaction."""
    if body.get("type") == "event_callback":
        event_id = body.get("event_id")
        return f"event:{event_id}" if isinstance(event_id, str) and event_id else None
    trigger = body.get("trigger_id")
    return f"trigger:{trigger}" if isinstance(trigger, str) and trigger else None


class ReplayGuard(AsyncMiddleware):
    """Refuses replayed requests (401) and acknowledges repeated deliveries without
    processing them (200). Register it before any other middleware of the app."""

    def __init__(
        self, memory: DeliveryMemory | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.memory = memory if memory is not None else DeliveryMemory(clock=clock)
        self.clock = clock

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse | None:
        signature = _header(req, "x-slack-signature")
        timestamp = _header(req, "x-slack-request-timestamp")
        if signature is None and timestamp is None:
            # Socket Mode and the local console: nothing signed, nothing to replay.
            return await next()
        if not signature or not timestamp or not _is_timestamp(timestamp):
            return BoltResponse(status=401, body="")  # Bolt refuses these first anyway
        retry = _header(req, "x-slack-retry-num")
        signed = f"sig:{timestamp}:{signature}"
        if not self.memory.add(signed, until=int(timestamp) + SIGNATURE_WINDOW + 1):
            if retry is not None:
                # Slack sending again, unchanged, what it already sent: a 401 would only
                # make it try again. (The header is not signed, but the answer runs nothing.)
                log.info("acknowledged retry %s of a request already received", retry)
                return BoltResponse(status=200, body="")
            log.warning("refused a replayed request (signed at %s)", timestamp)
            return BoltResponse(status=401, body="")
        delivery = delivery_id(req.body)
        if delivery is not None and not self.memory.add(
            delivery, until=self.clock() + DELIVERY_WINDOW
        ):
            log.info(
                "acknowledged a repeated delivery of %s without processing it (retry %s)",
                delivery,
                retry or "-",
            )
            return BoltResponse(status=200, body="")
        req.context[_CONTEXT_KEY] = _Held(self, (signed, delivery))
        return await next()


class _Held(NamedTuple):
    guard: ReplayGuard
    keys: tuple[str, str | None]


def release_failed(req: AsyncBoltRequest, response: BoltResponse) -> None:
    """Call with the app's answer: a request that failed on our side (5xx, nothing was
    run) is forgotten, so that Slack's retry of it is processed instead of acknowledged."""
    if response.status < 500:
        return
    held = req.context.get(_CONTEXT_KEY)
    if isinstance(held, _Held):
        for key in held.keys:
            if key is not None:
                held.guard.memory.discard(key)


async def dispatch(app: AsyncApp, req: AsyncBoltRequest) -> BoltResponse:
    """``app.async_dispatch`` for the HTTP endpoint.

    A timestamp that is not a number is refused here: slack_sdk's verifier would raise
    on it, and the app's error handler would then answer the unauthenticated request
    with a 200 "unexpected error" reply instead of a 401."""
    timestamp = _header(req, "x-slack-request-timestamp")
    if timestamp is not None and not _is_timestamp(timestamp):
        return BoltResponse(status=401, body="")
    response = await app.async_dispatch(req)
    release_failed(req, response)
    return response


def signed_by_slack(raw: bytes, headers: Mapping[str, str], signing_secret: str) -> bool:
    """Slack's signature over the raw bytes, and a timestamp within the window. Checked
    before anything decodes or parses the body, so that no unsigned input ever reaches
    a parser (invalid UTF-8, deep JSON, a form labelled as JSON…)."""
    timestamp = headers.get("X-Slack-Request-Timestamp")
    signature = headers.get("X-Slack-Signature")
    if not timestamp or not signature or not _is_timestamp(timestamp) or len(timestamp) > 12:
        return False
    if abs(time.time() - int(timestamp)) > SIGNATURE_WINDOW:
        return False
    # Slack's scheme (v0), over the bytes as received: slack_sdk's verifier would decode
    # them first, and fail on a body that is not UTF-8.
    base = b"v0:" + timestamp.encode("ascii") + b":" + raw
    digest = hmac.new(signing_secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"v0={digest}", signature)


def _bad_request(reason: str) -> BoltResponse:
    return BoltResponse(status=400, body=reason, headers={"content-type": ["text/plain"]})


async def from_http(app: AsyncApp, request: web.Request, *, signing_secret: str) -> BoltResponse:
    """The HTTP endpoint: the signature on the raw bytes first (401), then decoding and
    parsing, where a signed body that is not UTF-8 text or not a JSON object gets a
    plain 400 instead of an error inside Bolt (500); then :func:`dispatch`. This is the
    only signature check (Bolt's is off, see handlers.app.build_app); HTTP mode does not
    start without a signing secret."""
    raw = await request.read()
    if signing_secret and not signed_by_slack(raw, request.headers, signing_secret):
        return BoltResponse(status=401, body="")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _bad_request("the body is not UTF-8 text")
    try:
        # Bolt parses the body (once) as it builds its request, and reads its fields
        # right away: what is not a JSON object (nor a form whose payload is one) fails
        # in there, as a parse error or as a field read on something else.
        bolt_request = AsyncBoltRequest(
            body=text,
            query=request.query_string,
            headers=request.headers,  # type: ignore[arg-type]
        )
    except (ValueError, RecursionError):
        return _bad_request("the body could not be parsed")
    except (TypeError, AttributeError, KeyError):
        return _bad_request("the payload is not shaped like Slack's")
    if not isinstance(bolt_request.body, dict):
        return _bad_request("the payload is not a JSON object")
    return await dispatch(app, bolt_request)

"""Load generator: signed Slack slash commands over HTTP, with per-request latencies.

Every request is the form body Slack sends for a slash command, signed with the app's
signing secret, with a fresh ``trigger_id``. Traffic goes to loopback only, and every run
is bounded by a request count or a duration.

    python -m bench.loadgen http://127.0.0.1:3000/slack/events --secret S \\
        --command /faq --text "how do I activate my benefits" --user U0ABC --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import itertools
import json
import re
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from slack_sdk.signature import SignatureVerifier

TEAM_ID = "T0BENCH"
TEAM_DOMAIN = "bench"
APP_ID = "A0BENCH"
# The deprecated verification token Slack still sends; Bolt ignores it.
VERIFICATION_TOKEN = "legacy-verification-token"
DEFAULT_CONCURRENCY = 32
DEFAULT_DURATION = 10.0
REQUEST_TIMEOUT = 30.0


@dataclass(frozen=True)
class CommandSpec:
    """One kind of request: a slash command with its text, typed by one Slack user."""

    command: str
    text: str
    user_id: str
    user_name: str = "bench"
    channel_id: str = "C0BENCH"


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    errors: int = 0
    elapsed: float = 0.0
    acks: list[str] = field(default_factory=list)  # ack texts, when asked to keep them
    client_cpu_ms: float = 0.0  # the generator's CPU per request (set by bench/run_http.py)
    # Seconds after the load until what it left in the outbox was delivered (included in
    # ``elapsed``; set by bench/run_http.py).
    delivery: float = 0.0
    error_samples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile of the latencies, in seconds (0 with no sample)."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
        return ordered[rank - 1]

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p99(self) -> float:
        return self.percentile(99)

    def summary(self) -> str:
        return (
            f"{self.ok} ok, {self.errors} errors in {self.elapsed:.2f}s: "
            f"{self.throughput:.1f} req/s, p50 {self.p50 * 1000:.1f} ms, "
            f"p99 {self.p99 * 1000:.1f} ms"
        )


def require_loopback(url: str) -> None:
    """Refuse any target that is not this machine: a load test never leaves loopback."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ValueError(f"refusing to send load to {host!r}: only loopback addresses are allowed")


class SignedCommands:
    """Builds signed slash-command requests shaped like Slack's."""

    def __init__(self, signing_secret: str, response_url_base: str) -> None:
        self.verifier = SignatureVerifier(signing_secret)
        self.response_url_base = response_url_base.rstrip("/")
        self.seq = itertools.count(1)

    def trigger_id(self, n: int) -> str:
        return f"{n}.{int(time.time())}.{secrets.token_hex(16)}"

    def build(self, spec: CommandSpec) -> tuple[bytes, dict[str, str]]:
        n = next(self.seq)
        form = {
            "token": VERIFICATION_TOKEN,
            "team_id": TEAM_ID,
            "team_domain": TEAM_DOMAIN,
            "channel_id": spec.channel_id,
            "channel_name": "directmessage" if spec.channel_id.startswith("D") else "support",
            "user_id": spec.user_id,
            "user_name": spec.user_name,
            "command": spec.command,
            "text": spec.text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": f"{self.response_url_base}/{spec.command.lstrip('/')}-{n}",
            "trigger_id": self.trigger_id(n),
        }
        body = urlencode(form).encode()
        timestamp = str(int(time.time()))
        signature = self.verifier.generate_signature(timestamp=timestamp, body=body)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature or "",
        }
        return body, headers


def ack_text(raw: str) -> str | None:
    """The text of a slash-command ack: a JSON ack must be ephemeral and carry a ``text``;
    a plain-text body (Bolt's answer to ``ack(text=...)`` alone) is the text itself."""
    try:
        payload: Any = json.loads(raw)
    except ValueError:
        return raw if raw.strip() else None
    if not isinstance(payload, dict):
        return raw if raw.strip() else None
    text = payload.get("text")
    if payload.get("response_type") != "ephemeral" or not isinstance(text, str):
        return None
    return text


async def run_load(
    url: str | Sequence[str],
    signing_secret: str,
    specs: Sequence[CommandSpec],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    count: int | None = None,
    duration: float | None = None,
    expect: Callable[[str], bool] | None = None,
    keep_acks: bool = False,
    response_url_base: str | None = None,
) -> LoadResult:
    """Send the specs round-robin from ``concurrency`` clients until ``count`` requests
    were sent or ``duration`` seconds passed; with several URLs (instances of one app),
    requests go to each in turn. A request counts as an error when it fails, is not an
    ephemeral ack, or its text does not satisfy ``expect``."""
    urls = [url] if isinstance(url, str) else list(url)
    for target in urls:
        require_loopback(target)
    if not specs or not urls:
        raise ValueError("nothing to send, or nowhere to send it")
    if count is None and duration is None:
        duration = DEFAULT_DURATION
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(urls[0]))
    signer = SignedCommands(signing_secret, response_url_base or f"{origin}/response")
    result = LoadResult()
    picks = itertools.cycle(specs)
    targets = itertools.cycle(urls)
    remaining = itertools.count() if count is None else iter(range(count))
    deadline = None if duration is None else time.perf_counter() + duration

    def record_error(message: str) -> None:
        result.errors += 1
        if len(result.error_samples) < 5:
            result.error_samples.append(message[:300])

    async def client(session: aiohttp.ClientSession) -> None:
        for _ in remaining:
            if deadline is not None and time.perf_counter() >= deadline:
                return
            body, headers = signer.build(next(picks))
            started = time.perf_counter()
            try:
                async with session.post(next(targets), data=body, headers=headers) as response:
                    raw = await response.text()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                record_error(f"{type(exc).__name__}: {exc}")
                continue
            latency = time.perf_counter() - started
            text = ack_text(raw) if status == 200 else None
            if text is None:
                record_error(f"HTTP {status}: {raw}")
            elif expect is not None and not expect(text):
                record_error(f"unexpected ack: {text}")
            else:
                result.latencies.append(latency)
                if keep_acks:
                    result.acks.append(text)

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        began = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        result.elapsed = time.perf_counter() - began
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url", help="the app's endpoint, e.g. http://127.0.0.1:3000/slack/events")
    parser.add_argument("--secret", required=True, help="the signing secret the app verifies")
    parser.add_argument("--command", default="/faq")
    parser.add_argument("--text", default="")
    parser.add_argument("--user", default="U0BENCH", help="the Slack user id sending the commands")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    bound = parser.add_mutually_exclusive_group()
    bound.add_argument("--count", type=int, help="send exactly this many requests")
    bound.add_argument(
        "--duration", type=float, help=f"send for this many seconds (default {DEFAULT_DURATION:g})"
    )
    parser.add_argument("--expect", help="a regular expression every ack text must contain")
    parser.add_argument(
        "--response-url", help="base of the response_url sent (default: the target's origin)"
    )
    args = parser.parse_args(argv)
    pattern = re.compile(args.expect) if args.expect else None
    spec = CommandSpec(args.command, args.text, args.user)
    result = asyncio.run(
        run_load(
            args.url,
            args.secret,
            [spec],
            concurrency=args.concurrency,
            count=args.count,
            duration=args.duration,
            expect=(lambda text: pattern.search(text) is not None) if pattern else None,
            response_url_base=args.response_url,
        )
    )
    print(f"requests   {result.ok + result.errors}")
    print(f"throughput {result.throughput:.1f} req/s")
    print(f"p50        {result.p50 * 1000:.1f} ms")
    print(f"p99        {result.p99 * 1000:.1f} ms")
    print(f"errors     {result.errors}")
    for sample in result.error_samples:
        print(f"  e.g. {sample}")
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main())

"""Every benchmark in one go, then a summary table per database (``make bench``).

- ``run_http.py --quick``: slash commands over HTTP against a bare Bolt app, and the
  queue post latency of an idle bot, on SQLite and on PostgreSQL (when it answers);
- ``statements.py``: statements and transactions per command, on both databases;
- ``data_growth.py``: EA look-ups at 10 k and 100 k licenses (1 M with ``--full``);
- ``bench_faq.py``: FAQ search time per question.

Each runs in its own process, one after the other (they would skew one another); the
exit status is non-zero when any target is missed. ``--update-readme`` writes the
summary tables into README.md's performance section (between its markers).

    python bench/run_all.py [--full] [--database sqlite|postgres|both] [--update-readme]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
README = ROOT / "README.md"
README_START = "<!-- bench:start (written by bench/run_all.py --update-readme) -->"
README_END = "<!-- bench:end -->"
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


@dataclass
class Outcome:
    name: str
    code: int
    seconds: float
    details: list[str]

    @property
    def verdict(self) -> str:
        return "PASS" if self.code == 0 else "FAIL"


def run(name: str, script: str, args: list[str]) -> tuple[int, float, str]:
    print(f"\n=== {name}: {script} {' '.join(args)}", flush=True)
    began = time.perf_counter()
    process = subprocess.run(  # our own scripts, run by this interpreter
        [sys.executable, str(BENCH / script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    print(process.stdout, end="", flush=True)
    return process.returncode, time.perf_counter() - began, process.stdout


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def http_details(data: dict[str, Any] | None) -> list[str]:
    if data is None:
        return ["no result (see the output above)"]
    lines = [
        f"{row['command']}: {row['throughput']} req/s, p99 {row['p99_ms']} ms"
        + (
            f" ({row['throughput_ratio']}x bare throughput, {row['p99_ratio']}x bare p99)"
            if row["throughput_ratio"] is not None
            else ""
        )
        for row in data.get("rows", [])
    ]
    tickets = data.get("tickets") or {}
    if tickets:
        lines.append(
            f"tickets: acknowledged {tickets['acknowledged']}, stored {tickets['stored']}, "
            f"lost {tickets['lost']}"
        )
    return lines


def growth_details(data: dict[str, Any] | None) -> list[str]:
    if data is None:
        return ["no result (see the output above)"]
    small, large = data["small_licenses"], data["large_licenses"]
    lines = []
    for name, p50 in data["p50_ms"].items():
        ratio = p50["large"] / p50["small"] if p50["small"] else float("inf")
        lines.append(
            f"{name}: p50 {p50['small']} ms at {small:,} licenses, {p50['large']} ms at "
            f"{large:,} ({ratio:.2f}x)"
        )
    lines.extend(f"full scan: {scan.splitlines()[0]}" for scan in data.get("scans", []))
    return lines


def command_table(http: dict[str, Any] | None, counts: dict[str, Any] | None) -> list[str]:
    """One markdown table: the HTTP figures and the statements of each command."""
    if http is None:
        return ["no HTTP result (see the output above)"]
    per_command = {row["command"]: row for row in (counts or {}).get("rows", [])}

    def ratio(value: float | None) -> str:
        return "—" if value is None else f"{value:.2f}"

    lines = [
        "| command | req/s | p50 ms | p99 ms | × bare throughput | × bare p50 | × bare p99 "
        "| CPU ms/req | statements | transactions | result |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in http.get("rows", []):
        counted = per_command.get(row["command"])
        statements = "—" if counted is None else f"{counted['statements']:.1f}"
        transactions = "—" if counted is None else f"{counted['transactions']:.1f}"
        if row["throughput_ratio"] is None:
            verdict = "baseline"
        elif not row["target"]:
            verdict = "no target"
        else:
            verdict = "PASS" if row["pass"] else "FAIL"
        cpu = "—" if row["cpu_ms_per_request"] is None else f"{row['cpu_ms_per_request']:.2f}"
        lines.append(
            f"| {row['command']} | {row['throughput']:.0f} | {row['p50_ms']:.1f} "
            f"| {row['p99_ms']:.1f} | {ratio(row['throughput_ratio'])} "
            f"| {ratio(row.get('p50_ratio'))} | {ratio(row['p99_ratio'])} | {cpu} "
            f"| {statements} | {transactions} | {verdict} |"
        )
    latency = http.get("queue_post_latency_ms") or {}
    tickets = http.get("tickets") or {}
    lines.append("")
    for row in http.get("rows", []):
        if row.get("delivery_seconds"):
            lines.append(
                f"{row['command']}: its queue posts were delivered "
                f"{row['delivery_seconds']:.2f} s after its load ended, counted in its "
                f"req/s (of {row['elapsed_seconds']:.2f} s in all) and in its CPU per request."
            )
    if latency:
        lines.append(
            f"Queue post of a new ticket on an idle bot: p50 {latency['p50']} ms, p99 "
            f"{latency['p99']} ms after the ack ({latency['count']} tickets one at a "
            f"time; target p50 ≤ 10 ms: {'PASS' if latency['pass'] else 'FAIL'})."
        )
    if tickets:
        lines.append(
            f"`/ticket new`: {tickets['acknowledged']} acknowledged, {tickets['stored']} "
            f"stored after `kill -9` of the server, {tickets['lost']} lost."
        )
    return lines


def postgres_answers(url: str) -> bool:
    process = subprocess.run(  # our own script, run by this interpreter
        [sys.executable, str(ROOT / "scripts" / "pg_ready.py"), url], check=False
    )
    return process.returncode == 0


def update_readme(sections: list[str]) -> None:
    text = README.read_text(encoding="utf-8")
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        print(f"README.md has no {README_START!r} … {README_END!r} block; left as it is")
        return
    body = "\n".join(sections).strip()
    text = text[: start + len(README_START)] + "\n" + body + "\n" + text[end:]
    README.write_text(text, encoding="utf-8")
    print("README.md: performance tables written")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--full", action="store_true", help="1 M licenses in the growth benchmark")
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgres", "both"),
        default="both",
        help="both (default): SQLite, and PostgreSQL when its server answers",
    )
    parser.add_argument(
        "--update-readme", action="store_true", help="write the tables into README.md"
    )
    args = parser.parse_args(argv)
    postgres_url = os.environ.get("SUPPORTBOT_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    if args.database == "both" and not postgres_answers(postgres_url):
        print(f"PostgreSQL does not answer at {postgres_url}: SQLite only")
        databases = ["sqlite"]
    outcomes: list[Outcome] = []
    tables: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="supportbot-bench-all-") as tmp:
        for database in databases:
            http_json = Path(tmp) / f"http-{database}.json"
            code, seconds, _ = run(
                f"HTTP, {database}",
                "run_http.py",
                ["--quick", "--database", database, "--json", str(http_json)],
            )
            http = read_json(http_json)
            outcomes.append(
                Outcome(f"slash commands over HTTP, {database}", code, seconds, http_details(http))
            )
            counts_json = Path(tmp) / f"statements-{database}.json"
            code, seconds, output = run(
                f"statements, {database}",
                "statements.py",
                ["--database", database, "--json", str(counts_json)],
            )
            tail = [line for line in output.strip().splitlines() if line.strip()][-1:]
            outcomes.append(Outcome(f"statements per command, {database}", code, seconds, tail))
            tables[database] = command_table(http, read_json(counts_json))

        growth_json = Path(tmp) / "growth.json"
        growth_args = ["--json", str(growth_json), *(["--full"] if args.full else [])]
        code, seconds, _ = run("data growth", "data_growth.py", growth_args)
        growth = growth_details(read_json(growth_json))
        outcomes.append(Outcome("data growth", code, seconds, growth))

        code, seconds, output = run("FAQ search", "bench_faq.py", [])
        tail = [line for line in output.strip().splitlines() if line.strip()][-3:]
        outcomes.append(Outcome("FAQ search", code, seconds, tail))

    print("\n=== summary")
    for outcome in outcomes:
        print(f"{outcome.verdict}  {outcome.name} ({outcome.seconds:.0f} s)")
        for line in outcome.details:
            print(f"      {line}")
    sections: list[str] = []
    for database, lines in tables.items():
        title = {"sqlite": "SQLite", "postgres": "PostgreSQL"}[database]
        sections += [
            "",
            f"**{title}** (`bench/run_http.py --quick --database {database}`, "
            f"`bench/statements.py --database {database}`):",
            "",
            *lines,
        ]
        print(f"\n=== {title}\n")
        print("\n".join(lines))
    sections += ["", "Data growth (`bench/data_growth.py`): " + "; ".join(growth) + "."]
    failed = [o.name for o in outcomes if o.code != 0]
    print(f"\ntargets met by {len(outcomes) - len(failed)} of {len(outcomes)} benchmarks")
    if args.update_readme:
        update_readme(sections)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Every benchmark of the product in one go, then a summary (``make bench``).

- ``run_http.py --quick``: slash commands over HTTP against a bare Bolt app;
- ``data_growth.py``: EA look-ups at 10 k and 100 k licenses (1 M with ``--full``);
- ``bench_faq.py``: FAQ search time per question.

Each runs in its own process, one after the other (they would skew one another); the
exit status is non-zero when any target is missed.

    python bench/run_all.py [--full] [--database postgres]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--full", action="store_true", help="1 M licenses in the growth benchmark")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args(argv)
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="supportbot-bench-all-") as tmp:
        http_json = Path(tmp) / "http.json"
        code, seconds, _ = run(
            "HTTP",
            "run_http.py",
            ["--quick", "--database", args.database, "--json", str(http_json)],
        )
        outcomes.append(
            Outcome("slash commands over HTTP", code, seconds, http_details(read_json(http_json)))
        )

        growth_json = Path(tmp) / "growth.json"
        growth_args = ["--json", str(growth_json), *(["--full"] if args.full else [])]
        code, seconds, _ = run("data growth", "data_growth.py", growth_args)
        outcomes.append(
            Outcome("data growth", code, seconds, growth_details(read_json(growth_json)))
        )

        code, seconds, output = run("FAQ search", "bench_faq.py", [])
        tail = [line for line in output.strip().splitlines() if line.strip()][-3:]
        outcomes.append(Outcome("FAQ search", code, seconds, tail))

    print("\n=== summary")
    for outcome in outcomes:
        print(f"{outcome.verdict}  {outcome.name} ({outcome.seconds:.0f} s)")
        for line in outcome.details:
            print(f"      {line}")
    failed = [o.name for o in outcomes if o.code != 0]
    print(f"\ntargets met by {len(outcomes) - len(failed)} of {len(outcomes)} benchmarks")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

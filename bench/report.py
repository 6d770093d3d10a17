"""Markdown tables of benchmark results, for docs/performance.md.

.venv/bin/python -m bench.report bench/results/sqlite.json [more.json …]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.run import RSS_TARGET_MB
from bench.run import SCENARIOS
from bench.run import TARGETS


def table(report: dict[str, Any]) -> str:
    """One result file as a Markdown table."""
    rows = report["scenarios"]
    lines = [
        f"{report['backend']}, {report['server']} ({report['workers']} workers × "
        f"{report['threads']} threads), {report['concurrency']} connections, "
        f"{report['duration']:g} s per scenario, {report['patrons']:,} patrons, "
        f"{report['cores']} cores ({report['cpu']}), {report['date']}",
        "",
        "| scenario | rate | p50 ms | p95 ms | p99 ms | errors | target |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name in SCENARIOS:
        row = rows.get(name)
        if row is None:
            continue
        target = ""
        unit = "/s"
        if name == "login_flow":
            share = row.get("argon2_share", 0.0)
            unit = " flows/s"
            target = f"{share:.0f} % of bound; ≥ 80 %: {'met' if share >= 80 else 'missed'}"
        elif name in TARGETS:
            goal = TARGETS[name]
            target = f"≥ {goal:,.0f}: {'met' if row['rate'] >= goal else 'missed'}"
        lines.append(
            f"| {name} | {row['rate']:,.0f}{unit} | {row['p50_ms']:.2f} | {row['p95_ms']:.2f} "
            f"| {row['p99_ms']:.2f} | {row['errors']} | {target} |"
        )
    lines.append(
        f"| Argon2 bound | {report['argon2_bound']:,.1f}/s | | | | | verifications, all cores |"
    )
    rss = report.get("peak_rss_mb") or []
    if rss:
        verdict = "met" if max(rss) <= RSS_TARGET_MB else "missed"
        lines.append(
            f"| peak RSS | {' / '.join(f'{v:.0f}' for v in rss)} MB | | | | "
            f"| ≤ {RSS_TARGET_MB:.0f} MB per worker: {verdict} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    for name in argv:
        print(table(json.loads(Path(name).read_text())))
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

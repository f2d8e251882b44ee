"""The chaos table: one row per (fault, transport)."""

from __future__ import annotations

from collections.abc import Iterable

from .scenario import Result

__all__ = ("RESULTS", "format_table")

#: The results a pytest run measured (printed as the table in its summary).
RESULTS: list[Result] = []


def format_table(results: Iterable[Result]) -> str:
    """A Markdown table: lost, duplicated, recovery seconds, consumer alive, errors."""
    lines = [
        "| fault | transport | published | lost | duplicated | recovery s | consumer alive | took s | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        recovery = "-" if r.recovery is None else f"{r.recovery:.2f}"
        verdict = "ok" if r.ok else ("FAIL: " + (r.error or ("lost" if r.lost else "dead")))
        lines.append(
            f"| {r.fault} | {r.target} | {r.published} | {r.lost} | {r.duplicated} "
            f"| {recovery} | {'yes' if r.consumer_alive else 'no'} "
            f"| {r.seconds:.1f} | {verdict} |"
        )
    return "\n".join(lines)

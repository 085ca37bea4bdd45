"""The SPK blocks' kinds and the thresholds each takes (torch-free: recipes check them)."""

from __future__ import annotations

SPK_KINDS = ("sl", "rl", "mbpl")
_BRANCHES = {"sl": "one", "rl": "two", "mbpl": "at least two"}


def threshold_problem(kind: str, thresholds: list[float]) -> str | None:
    """Why ``thresholds`` do not fit SPK block ``kind`` (None when they do): sl takes one, rl
    two (its two LIFs), mbpl at least two (its branches); all positive."""
    if kind not in SPK_KINDS:
        return f"SPK block '{kind}' is not one of {', '.join(SPK_KINDS)}"
    count = len(thresholds)
    ok = {"sl": count == 1, "rl": count == 2, "mbpl": count >= 2}[kind]
    if not ok or min(thresholds, default=0) <= 0:
        return f"SPK block {kind} needs {_BRANCHES[kind]} positive thresholds, got {thresholds}"
    return None

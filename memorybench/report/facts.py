"""The facts of a run, from its stored rows: training and wall-clock time, package versions
and commits, devices, and the cells that did not finish well. pandas only; no torch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from memorybench.report.summary import DASH, numbers


def clock(seconds: float) -> str:
    """Training time as people say it: 45.3 s, 12 min 05 s, 3 h 02 min."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


COMMIT_KEYS = ("git", "git_commit", "commit")


def version_facts(rows) -> tuple[dict[str, str], str]:
    """Package versions (name -> every version seen, comma-joined) and the git commits,
    from the stored ``versions`` dicts of results or diagnostics."""
    versions: dict[str, set] = {}
    for v in rows:
        for name, value in v.items():
            versions.setdefault(str(name), set()).add(str(value))
    commits = sorted(set().union(*(versions.pop(k, set()) for k in COMMIT_KEYS)))
    return ({name: ", ".join(sorted(values)) for name, values in sorted(versions.items())},
            ", ".join(commits) if commits else "not recorded in the store")


def elapsed(frame: pd.DataFrame) -> tuple[float, int] | None:
    """Wall-clock time during which at least one of the rows was computing, and the most
    computing at once: each row spans [finished_at - wall_time, finished_at], and
    overlapping spans count once. None when no row has both."""
    spans = []
    for end, seconds in zip(frame["finished_at"], numbers(frame["wall_time"]), strict=True):
        if isinstance(end, str) and end and seconds == seconds:
            try:
                stop = pd.Timestamp(end).timestamp()
            except ValueError:
                continue
            spans.append((stop - float(seconds), stop))
    if not spans:
        return None
    spans.sort()
    total, peak, start, stop = 0.0, 0, *spans[0]
    for a, b in spans[1:]:
        if a > stop:
            total, start = total + stop - start, a
        stop = max(stop, b)
    total += stop - start
    # finished_at is stored to the second, so a span may start up to a second early and
    # seem to overlap the one before it on the same worker: peaks count a second later
    events = sorted([(min(a + 1.0, b), 1) for a, b in spans] + [(b, -1) for _, b in spans])
    running = 0
    for _, step in events:  # an end at the same instant as a start sorts first
        running += step
        peak = max(peak, running)
    return total, peak


def stored_facts(frame: pd.DataFrame) -> dict:
    """What any stored rows (cells or diagnostics) say about their run: versions, commit,
    first and last finishing dates, total time, count and count per status."""
    versions, commit = version_facts(frame["versions"])
    dates = sorted(d for d in frame["finished_at"] if isinstance(d, str) and d)
    return {"versions": versions, "commit": commit,
            "newest": dates[-1] if dates else "not recorded",
            "oldest": dates[0] if dates else "not recorded",
            "time": clock(float(np.nansum(numbers(frame["wall_time"])))),
            "elapsed": _elapsed_text(frame),
            "count": len(frame),
            "status_counts": {s: int(n) for s, n in
                              frame["status"].value_counts().sort_index().items()}}


def _elapsed_text(frame: pd.DataFrame) -> str:
    span = elapsed(frame)
    if span is None:
        return "not recorded"
    return f"{clock(span[0])} (at most {span[1]} at once)"


def error_line(error: str | None) -> str:
    """The first line of a stored error, cut to 200 characters, as a table shows it."""
    return (error or "no error recorded").strip().splitlines()[0][:200]


def run_facts(frame: pd.DataFrame) -> dict:
    """``stored_facts`` of cells, and their devices, parameters and cells not ok."""
    params = {}
    for (model, task), g in frame.groupby(["model", "task"], sort=True):
        counts = sorted({int(p) for p in g["params"].dropna()})
        params[model, task] = (f"{counts[0]:,}" if len(counts) == 1 else
                               f"{counts[0]:,}–{counts[-1]:,}" if counts else DASH)
    bad = []
    r: Any  # a row of itertuples: pandas types each field as any scalar
    for r in frame[frame["status"] != "ok"].itertuples():
        if r.status == "diverged":
            step = "?" if r.diverged_step != r.diverged_step else int(r.diverged_step)
            detail = f"loss not finite at step {step}"
        else:
            detail = error_line(r.error)
        bad.append({"task": r.task, "model": r.model, "length": r.length, "seed": r.seed,
                    "status": r.status, "detail": detail})
    return {
        **stored_facts(frame),
        "devices": ", ".join(sorted({d for d in frame["device"] if d})) or "not recorded",
        "params": params,
        "bad": bad,
    }

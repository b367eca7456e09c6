"""Is a committed report stale? A fresh render of the same results is compared with it.

Figures are compared by name only: their PNG bytes depend on the plotting libraries'
versions, the numbers and tables do not. For the same reason every other file is compared as
text with what those versions decide left out: the line naming the versions (README.md and
index.html) and the figures inlined in index.html as base64 data URLs.
"""

from __future__ import annotations

import re
from pathlib import Path

from memorybench.report.pages import render_report

# What a plotting-library version changes in a page, each replaced by a fixed text.
_VERSION_LINE = re.compile(r"(?m)^(- |<li>)Figures drawn with .*$")
_INLINE_PNG = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]*")


def stale_files(fresh: Path, committed: Path) -> list[str]:
    """Files (relative paths) that differ between a fresh render and a committed report
    folder: present in only one of them, or, other than a figure, different in text once
    the plotting versions' traces are masked; ``["the whole folder"]`` when ``committed`` is
    not a folder."""
    if not committed.is_dir():
        return ["the whole folder"]
    ours, theirs = _names(fresh), _names(committed)
    differ = {name for name in ours & theirs if not name.endswith(".png")
              and _masked(fresh / name) != _masked(committed / name)}
    return sorted((ours ^ theirs) | differ)


def _names(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _masked(path: Path) -> str:
    """A file's text with the plotting versions' traces replaced by placeholders."""
    text = path.read_text("utf-8", errors="replace")
    text = _VERSION_LINE.sub(r"\1Figures drawn with (versions masked)", text)
    return _INLINE_PNG.sub("data:image/png;base64,(image masked)", text)


def stale_report(results: Path, committed: Path, protocols: dict | None = None,
                 previous: tuple | None = None, sizes: tuple | None = None) -> list[str]:
    """The files of the report ``committed`` that a fresh render of ``results`` (its
    searches read by ``protocols``, ``horizon.plan.suite_protocols``; ``previous``, an
    earlier run to list what moved since, and ``sizes``, a run at another size:
    ``render_report``'s) would change (empty: up to date)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "report"
        render_report(results, fresh, protocols=protocols, previous=previous, sizes=sizes)
        return stale_files(fresh, committed)

"""Where a report goes: the checks on ``--out``, the one atomic write, figures as files and
as inline images, and the Jinja2 templates of every page.

A report folder holds only what a report writes (``OUTPUT_NAMES``). Every write, of a whole
report or of its ``diagnostics/`` folder alone, goes through ``write_atomically``: the files
are written into a temporary folder beside the target and swapped into place, so bad input
or an interruption leaves the previous folder as it was.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from memorybench.errors import UserError
from memorybench.report.tables import md

FIGURES = "figures"  # the report's figures, beside README.md
DIAGNOSTICS = "diagnostics"  # the diagnostics' own page, figures and data
OUTPUT_NAMES = {"index.html", "README.md", FIGURES, DIAGNOSTICS}  # a report folder
WRITTEN_SUFFIXES = {".png", ".md", ".csv"}  # what a report writes inside those folders


def check_out(out: Path) -> None:
    """Refuse, with one line, an --out that cannot be a report folder: a file, a folder of
    other files, or a path whose last part is not a plain name (``.``, ``..``, ``/``), which
    would replace the folder the user is in or one above it."""
    out = Path(out)
    if out.name in ("", ".", "..") or Path.cwd().resolve().is_relative_to(out.resolve()):
        raise UserError(f"--out {out} is not a folder a report can be written to (it is, or "
                        "holds, the current folder); expected a new folder such as "
                        "reports/latest")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; expected a folder for the report (new, empty, "
                        "or a previous report)")
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in OUTPUT_NAMES)
        # Inside its folders a report writes figures, pages and tables only: a file the
        # user put there is not replaced with the report.
        foreign += sorted(str(p.relative_to(out)) for name in (FIGURES, DIAGNOSTICS)
                          for p in (out / name).rglob("*")
                          if p.is_file() and p.suffix not in WRITTEN_SUFFIXES)
        if foreign:
            raise UserError(f"--out {out} holds files that are not a report ({foreign[0]}, ...);"
                            " expected a new or empty folder, or a previous report to replace")


PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")  # a file name as it stands


def file_name(name: str) -> str:
    """``name`` as a file name in a report folder. Names come from results files (a task or
    a model name), which are untrusted input: one holding anything but letters, digits, ``-``
    and ``_`` (a ``/``, ``..``, a NUL byte, an absolute path) or over 100 characters becomes
    those characters' slug and a hash of the whole name, so it stays one file inside the
    folder and apart from every other name."""
    if PLAIN.fullmatch(name):
        return name
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:60] or "figure"
    digest = hashlib.sha1(name.encode(errors="surrogatepass")).hexdigest()[:8]
    return f"{slug}-{digest}"


def add_figure(files: dict[str, bytes], folder: str, name: str, png: bytes, alt: str) -> dict:
    """Put figure ``name`` into ``files`` as ``folder/<file_name(name)>.png`` and return what
    a template shows of it: its path in the report, its file name, its alt text and the PNG
    inlined as a data URL (for the self-contained HTML page). Every figure's path is made
    here, from names that may come from a results file."""
    name = file_name(name)
    path = f"{folder}/{name}.png"
    files[path] = png
    return {"path": path, "name": f"{name}.png", "alt": alt,
            "data": "data:image/png;base64," + base64.b64encode(png).decode("ascii")}


def render(template: str, context: dict) -> bytes:
    """A page from ``templates/``: HTML templates autoescape, Markdown ones escape through
    the ``md`` filter."""
    return _environment().get_template(template).render(**context).encode()


@functools.cache
def _environment() -> Environment:
    def autoescape(name: str | None) -> bool:
        return name is None or name.endswith(".html.j2")

    env = Environment(loader=PackageLoader("memorybench.report", "templates"),
                      autoescape=autoescape, undefined=StrictUndefined, trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["md"] = md
    return env


def write_atomically(out: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` into a temporary folder beside ``out``, then swap it into place."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as exc:
        raise UserError(f"--out {out} cannot be created ({exc.strerror}); expected a folder "
                        "path in a writable place") from None
    old = None
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700; a report is meant to be read and served
        for rel, data in sorted(files.items()):
            path = tmp / rel
            if not path.resolve().is_relative_to(tmp.resolve()):  # a bug, never user input
                raise RuntimeError(f"report file {rel!r} would be written outside the report")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        if out.exists():
            old = out.with_name(tmp.name[:-4] + ".old")
            out.rename(old)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and old.exists() and not out.exists():
            old.rename(out)  # put the previous report back
            old = None
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)

"""The benchmark's protocol files: one TOML spec per task, model variant and suite.

They live in ``tasks/``, ``models/`` and ``suites/`` at the top of the repository and are
copied into the wheel as ``memorybench/_specs/``, so a checkout and an installed package
read the same files.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from memorybench.errors import UserError

_PACKAGE = Path(__file__).resolve().parent


def spec_dir(kind: str) -> Path:
    """Folder holding the ``kind`` ('tasks', 'models' or 'suites') specs."""
    installed = _PACKAGE / "_specs" / kind
    return installed if installed.is_dir() else _PACKAGE.parent / kind


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file; a syntax error names the file and line."""
    path = Path(path)
    try:
        if not path.is_file():  # a FIFO or device would block or never end
            what = ("not a regular file" if path.exists() else
                    "a symbolic link that does not resolve" if path.is_symlink() else
                    "no such file")
            raise UserError(f"{shorten(path)}: {what}; expected a TOML file")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:  # a symlink loop, a name too long, ...
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else \
            exc.__class__.__name__
        raise UserError(f"{shorten(path)}: cannot read as a UTF-8 TOML file ({reason}); "
                        "expected a TOML file") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: malformed TOML: {exc}") from None


@cache
def spec_names(kind: str) -> tuple[str, ...]:
    folder = spec_dir(kind)
    return tuple(sorted(p.stem for p in folder.glob("*.toml"))) if folder.is_dir() else ()


def load_spec(kind: str, name: str) -> dict[str, Any] | None:
    """The spec ``kind/name.toml`` as a dict, or None when there is no such file."""
    if name not in spec_names(kind):
        return None
    return read_toml(spec_dir(kind) / f"{name}.toml")


def shorten(path: str | Path, most: int = 80) -> str:
    """A path for a one-line message: long ones keep their start and end."""
    text = str(path)
    return text if len(text) <= most else f"{text[:40]}...{text[-(most - 43):]}"


def check_keys(where: str, table: dict[str, Any], allowed: set[str]) -> None:
    """Reject unknown keys, naming the allowed ones (catches typos in specs and flags)."""
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r}; expected one of: "
                        f"{', '.join(sorted(allowed))}")


def horizon_cap(task: str) -> int | None:
    """The cap of a task's ladder (``horizon = { cap = ... }`` in its spec); None for a
    task without one here (a plugin's spec is beside its code, not read here)."""
    try:
        table = load_spec("tasks", task) or {}
    except UserError:
        return None
    cap = (table.get("horizon") or {}).get("cap")
    return cap if isinstance(cap, int) else None

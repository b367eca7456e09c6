"""Opening a results store's file safely: a file that is not a memorybench store, is
damaged, is newer than this code, or cannot be written is refused with one clear line and
left exactly as it was found (no -wal or -shm companion created beside it).
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

from memorybench.errors import UserError
from memorybench.store.schema import SCHEMA_VERSION, check_schema

APPLICATION_ID = 0x4D424E43  # "MBNC": marks a SQLite file as a memorybench store
SQLITE_HEADER = b"SQLite format 3\x00"
DEFAULT_DB = Path("results") / "memorybench.db"


# What an input that is not a store may be instead (``results.load`` reads those too).
INPUT_EXPECTED = "a .db store or an exported .csv/.json/.jsonl/.parquet file"
# How special files are named when one is given where a file is expected.
SPECIAL = {stat.S_ISFIFO: "named pipe (FIFO)", stat.S_ISCHR: "character device",
           stat.S_ISBLK: "block device", stat.S_ISSOCK: "socket"}


def check_regular(path: Path, label: str, expected: str) -> None:
    """Refuse an existing path that is not a regular file (a directory, a FIFO, a device)
    before anything opens it: reading a FIFO waits for a writer forever."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # no such file: the caller says what that means for it
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise UserError(f"{label} is a directory; expected {expected}")
    kind = next((name for test, name in SPECIAL.items() if test(mode)), "special file")
    raise UserError(f"{label} is a {kind}, not a regular file; expected {expected}")


def check_existing(path: Path, label: str | None = None) -> None:
    """Refuse a file that is not a memorybench store, without writing to it (or beside it:
    a refused file gains no -wal or -shm companion). ``label`` names the file in errors:
    an input of the command (its path); None for the command's own ``--db``."""
    name = label or f"--db {path}"
    check_regular(path, name, INPUT_EXPECTED if label else
                  f"a database file path such as {DEFAULT_DB}")
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        with path.open("rb") as f:
            header = f.read(100)  # the SQLite file header
    except OSError as exc:
        raise UserError(f"{name} cannot be read ({exc.strerror})") from None
    if not header.startswith(SQLITE_HEADER):
        raise UserError(f"{name} is not a memorybench database (not an SQLite file); expected "
                        + (INPUT_EXPECTED if label else
                           "a file written by `memorybench run` or a new path"))
    uri = path.resolve().as_uri()
    if not Path(f"{path}-wal").exists():
        # No log: the file is complete as it is. ``immutable`` reads it without creating
        # the shared-memory file a WAL database otherwise gets on open.
        try:
            app_id, version = read_marks(f"{uri}?immutable=1", path, name)
            if app_id == APPLICATION_ID and version <= SCHEMA_VERSION:
                return
        except UserError:
            pass
    # A writer may hold the newest pages in its log, or be copying them into the file
    # right now: only a read that takes SQLite's locks may refuse the file.
    companions = [Path(f"{path}-wal"), Path(f"{path}-shm")]
    existed = [c.exists() for c in companions]
    try:
        app_id, version = read_marks(f"{uri}?mode=ro", path, name)
    except UserError:
        remove_new_companions(companions, existed)
        raise
    if app_id != APPLICATION_ID or version > SCHEMA_VERSION:
        remove_new_companions(companions, existed)
    if app_id != APPLICATION_ID:
        raise UserError(f"{name} is an SQLite database of another program, not a "
                        "memorybench store; " + (f"expected {INPUT_EXPECTED}" if label else
                                                 "choose another path"))
    if version > SCHEMA_VERSION:
        raise UserError(f"{name} has schema version {version}, newer than this "
                        f"memorybench's {SCHEMA_VERSION}; upgrade memorybench to read it")


def remove_new_companions(companions: list[Path], existed: list[bool]) -> None:
    """Remove the -wal and -shm files our read of a refused file created (an empty log
    and its index), so that a refused file is left exactly as it was found."""
    wal, shm = companions
    if not existed[0] and wal.exists() and wal.stat().st_size == 0:
        wal.unlink(missing_ok=True)
        if not existed[1]:
            shm.unlink(missing_ok=True)


def read_marks(uri: str, path: Path, name: str) -> tuple[int, int]:
    """(application id, schema version) of an SQLite file, reading every table's schema so
    that a damaged file is caught here; ``name``: the file as errors name it."""
    try:
        con = sqlite3.connect(uri, uri=True, isolation_level=None)
        try:
            # One read transaction: every answer from the same snapshot, even while
            # another process is creating or migrating the store.
            con.execute("BEGIN")
            tables = con.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            app_id = con.execute("PRAGMA application_id").fetchone()[0]
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if app_id == APPLICATION_ID:
                # Every page, not just the header: a store damaged inside is found here.
                problem = con.execute("PRAGMA quick_check(1)").fetchone()[0]
                if problem != "ok":
                    raise sqlite3.DatabaseError(" ".join(problem.split()))
                if tables:
                    check_schema(con, name, version)
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        folder = path.parent if str(path.parent) else Path(".")
        if Path(f"{path}-wal").exists() and not os.access(folder, os.W_OK):
            raise UserError(f"{name} cannot be read here: its write-ahead log "
                            f"({path.name}-wal) needs a shared-memory file beside it and the "
                            "folder is read-only; expected a store in a writable folder (or "
                            "copy it with its -wal to one)") from None
        raise UserError(f"{name} is a damaged database ({exc}); expected a memorybench "
                        "store") from None
    if app_id == 0 and tables == 0:  # an empty SQLite file, e.g. a store being created
        return APPLICATION_ID, 0
    return app_id, version


def connect_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection that leaves nothing beside the store. With no log beside it,
    no writer has the store open and the file is complete: it is read as immutable, which
    creates no -wal or -shm file (a WAL reader otherwise needs the shared-memory file)."""
    uri = path.resolve().as_uri()
    if not Path(f"{path}-wal").exists():
        return sqlite3.connect(f"{uri}?immutable=1", uri=True)
    return sqlite3.connect(f"{uri}?mode=ro", uri=True)


def check_writable(path: Path) -> None:
    """An existing store must be writable, and so must its folder (SQLite keeps its
    write-ahead log beside it): found out before training, not after."""
    folder = path.parent if str(path.parent) else Path(".")
    for target, what in ((path, "file"), (folder, "folder")):
        if target.exists() and not os.access(target, os.W_OK):
            raise UserError(f"--db {path} cannot be written (its {what} is read-only); "
                            "expected a writable file path")

"""Where results live: one SQLite file per store, and the same rows as files.

``file`` opens a store's file safely (a foreign, damaged, newer or read-only file is
refused and left as it was); ``schema`` is what a store holds, version by version, with its
migrations and leases; ``db`` is the store itself (``Store``: a row per finished cell,
committed as it ends); ``results`` reads a store or an exported file as one table and writes
it back out (export, import, rekey); ``compare`` pairs two sets of results (the regression
gate). Nothing here imports torch.
"""

from memorybench.store.db import Store
from memorybench.store.file import DEFAULT_DB

__all__ = ["DEFAULT_DB", "Store"]

"""The report: a results store as a self-contained HTML page, a Markdown page and figures.

    render_report("results/memorybench.db", "reports/latest")

reads the store with pandas (never torch), computes every table and figure in memory, renders
``index.html`` (figures embedded) and ``README.md`` (figures beside it in ``figures/``) into a
temporary folder next to the output, and only then moves it into place: bad input leaves
nothing behind. The same store gives the same bytes (see ``figures`` and ``summary``).

Data flows one way through the modules: ``summary`` (stored cells -> numbers) and
``gradients`` (stored diagnostics -> numbers); ``tables`` and ``figures`` (numbers -> table
rows and PNG bytes); ``claims`` and ``references`` (the literature beside our numbers);
``pages`` and ``diagnostics`` (everything -> the pages, through ``templates/``); ``output``
(``--out`` checks, the one atomic write); ``leaderboard`` (is a committed report stale?).
No module imports this package file: it only names what the command line uses. Called,
``memorybench.report(db=..., out=...)`` is the API's ``memorybench.api.report``.
"""

from memorybench.callables import callable_package
from memorybench.report import diagnostics
from memorybench.report.output import check_out
from memorybench.report.pages import DEFAULT_OUT, FORMATS, parse_formats, render_report

__all__ = ["DEFAULT_OUT", "FORMATS", "check_out", "diagnostics", "parse_formats",
           "render_report"]

callable_package(__name__)

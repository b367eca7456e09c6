"""How far back a model remembers: the horizon search.

Where is a horizon decided? In ``rules``, pure functions over stored results: the ladder
of lengths, a rung's learning rate chosen on validation data, a majority of seeds, the
bracket [solved, failed), and whether a failed length was still learning when its budget
ran out. ``plan`` turns a suite's ``[horizon]`` table and flags into one ``Search`` per
(task, model) with its ladder and cells; ``run`` trains the rungs round by round through the
runner and prints each bracket as it closes. The report reads brackets through ``rules``
too, so a verdict has one definition. Importing this package imports neither torch nor
its other modules: ``rules`` stays free of torch for the report. Called,
``memorybench.horizon(tasks=..., models=...)`` is the API's ``memorybench.api.horizon``.
"""

from memorybench.callables import callable_package

callable_package(__name__)

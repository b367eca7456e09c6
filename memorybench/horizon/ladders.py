"""Each task's ladder of lengths for a search (from flags, a suite's ``[horizon] ladders``,
or the task spec's ``horizon`` table, bounded by ``MAX_LENGTH``), its control length, and a
suite's probe lengths, each checked against what the task can take."""

from __future__ import annotations

from typing import Any

from memorybench import catalog
from memorybench.config import MAX_LENGTH, Protocol, TrainConfig, check_distinct
from memorybench.errors import UserError, is_integer
from memorybench.horizon import rules
from memorybench.sweep import Sweep
from memorybench.tasks.base import Task, held_out_share

# A length too short to have many more inputs than its held-out sets (validation and test)
# is left out of a ladder: at more than this share of fresh inputs repeating a held-out
# one, the held-out sets are most of what the task can draw, and training draws what is
# left (parity at length 2 has 4 inputs; at 12, 4,096, of which 1,500 draws cover 32%).
HELD_OUT_SHARE = 0.5


def task_ladder(task: str, sweep: Sweep, protocol: Protocol, start: int | None,
                cap: int | None,
                suite_ladder: dict[str, Any] | None = None
                ) -> tuple[list[int], int, Task, int]:
    """The task's ladder: start and cap from flags, else the suite's ``[horizon] ladders``
    entry for the task, else the task spec's ``horizon`` table; lengths the task cannot
    take left out, and below the shortest with many more inputs than the held-out sets
    (``HELD_OUT_SHARE``). And its control length: the ``control`` of those tables, else
    the shortest length the task takes at these parameters, moved up to the first that has
    those inputs (never above the ladder's first)."""
    spec = catalog.task_spec(task)
    table = spec.get("horizon", {})
    if not isinstance(table, dict) or set(table) - {"start", "cap", "control"}:
        raise UserError(f"task {task}: horizon = {table!r} is invalid; expected "
                        "horizon = { start = 8, cap = 1024, control = 1 }")
    table = {**table, **(suite_ladder or {})}
    cap = table.get("cap") if cap is None else cap
    if cap is None:
        raise UserError(f"task {task} has no horizon cap in its spec and none was given; pass "
                        f"--cap N or add horizon = {{ start = 8, cap = 1024 }} to {task}.toml")
    if start is None:
        start = table["start"] if "start" in table else min(spec.get("lengths") or [1])
    for name, value in (("start", start), ("cap", cap), ("control", table.get("control", 1))):
        if not is_integer(value) or not 1 <= value <= MAX_LENGTH:
            raise UserError(f"task {task}: horizon {name} {value!r} is invalid; expected an "
                            f"integer from 1 to {MAX_LENGTH:,} (memorybench.config.MAX_LENGTH)")
    built = catalog.build_task(task, {**spec.get("params", {}), **sweep.for_task("task", task)})

    held = int(sweep.for_task("train", task).get("eval_size", TrainConfig.eval_size))
    held += protocol.test_size

    def takes(length: int) -> bool:
        try:
            built.check_length(length)
        except UserError:
            return False
        return True

    def valid(length: int) -> bool:
        return takes(length) and held_out_share(built, length, held) <= HELD_OUT_SHARE

    lengths = [n for n in rules.ladder(start, cap, protocol.factor) if takes(n)]
    while lengths and not valid(lengths[0]):  # a longer length only has more inputs
        lengths.pop(0)
    if not lengths:
        raise UserError(f"task {task}: no length from {start} to {cap} is valid for it with "
                        f"held-out sets of {held:,} examples; raise --start")
    control = max(int(table.get("control") or 1), built.min_length)
    return lengths, cap, built, next((n for n in range(control, lengths[0]) if valid(n)),
                                     lengths[0])


def checked_probes(task: str, built: Task, table: dict[str, list[int]]
                   ) -> dict[str, tuple[int, ...]]:
    """A suite's probe lengths of ``task`` per model (``[horizon] probes``), each a length
    the task takes, each once; or one line naming the first that is not."""
    for model, lengths in table.items():
        where = f"[horizon] probes: {task} {model}"
        try:
            for length in lengths:
                built.check_length(length)
        except UserError as exc:
            raise UserError(f"{where}: {exc}") from None
        check_distinct(where, lengths, "[10, 20, 40]")
    return {model: tuple(lengths) for model, lengths in table.items()}

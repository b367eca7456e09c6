"""What a no-progress stop would have done to stored results: replay each cell's learning
curve (held-out loss at every evaluation) through ``training.no_progress``.

    python -m benchmarks.no_progress                      # results/standard-sweep.jsonl
    python -m benchmarks.no_progress results/x.db --patience 4,6 --min-delta 0,0.01

For every (patience, min_delta): how many cells that solved it would have stopped before
they solved (must be 0 for the rule to be safe), and how many training steps it would
have saved on the cells that never solved (the cost the rule exists to cut).
"""

from __future__ import annotations

import argparse
import json

from memorybench.store import results
from memorybench.training import no_progress


def stop_step(curve: list, patience: int, min_delta: float) -> int | None:
    """The step at which the rule would have ended a run with this curve, or None."""
    losses = [loss for _, _, loss in curve]
    for i, (step, _, _) in enumerate(curve):
        if no_progress(losses[:i + 1], patience, min_delta):
            return step
    return None


def replay(frame, patience: int, min_delta: float) -> dict:
    out = {"solved": 0, "stopped_early": 0, "failing": 0, "stopped": 0, "steps": 0, "saved": 0}
    for r in frame[frame["status"] == "ok"].itertuples():
        metrics = json.loads(r.metrics) if isinstance(r.metrics, str) else (r.metrics or {})
        curve = metrics.get("curve") or []
        if not curve:
            continue
        stop = stop_step(curve, patience, min_delta)
        if r.solved:
            out["solved"] += 1
            out["stopped_early"] += stop is not None and stop < r.steps_to_solve
        else:
            out["failing"] += 1
            out["steps"] += int(r.steps)
            if stop is not None:
                out["stopped"] += 1
                out["saved"] += int(r.steps) - stop
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", nargs="?", default="results/standard-sweep.jsonl")
    parser.add_argument("--patience", default="2,3,4,5,6")
    parser.add_argument("--min-delta", default="0,0.01,0.05")
    args = parser.parse_args()
    frame = results.load(args.db)
    print(f"{args.db}: {len(frame)} cells")
    print("| patience | min_delta | solved cells stopped before solving | failing cells "
          "stopped | training steps saved on failing cells |")
    print("|---|---|---|---|---|")
    for patience in (int(p) for p in args.patience.split(",")):
        for delta in (float(d) for d in args.min_delta.split(",")):
            r = replay(frame, patience, delta)
            share = r["saved"] / r["steps"] if r["steps"] else 0.0
            print(f"| {patience} | {delta:g} | {r['stopped_early']} / {r['solved']} | "
                  f"{r['stopped']} / {r['failing']} | {r['saved']:,} / {r['steps']:,} "
                  f"({share:.1%}) |")


if __name__ == "__main__":
    main()

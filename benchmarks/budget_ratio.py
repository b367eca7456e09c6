"""How many times the steps of an easy length does a longer length take to learn? The
measurement behind the horizon protocol's k (``Protocol.control_multiple``): a length
counts as failed only after k x the steps the control took.

    python -m benchmarks.budget_ratio                         # results/standard-v2.jsonl
    python -m benchmarks.budget_ratio results/x.db --k 2,3,4,8

For every (task, model, learning rate, seed) of a results file's networks, the steps each
longer length it solved took (an early stop's: when it stopped), over the steps its
shortest solved length took. A lower bound on the true ratios: a length not solved within
its budget is left out.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

import numpy as np

from memorybench.store import results


def ratios(frame) -> list[float]:
    """Steps to solve a longer length over steps to solve the shortest, per run."""
    runs: dict[tuple, list[tuple[int, float]]] = defaultdict(list)
    for r in frame.itertuples():
        config = json.loads(r.config) if isinstance(r.config, str) else r.config
        if r.status != "ok" or not r.solved or config.get("model_kind") != "network":
            continue
        if r.steps is None or r.steps != r.steps:
            continue
        runs[(r.task, r.model, config["train"]["lr"], r.seed)].append((int(r.length),
                                                                       float(r.steps)))
    out = []
    for solved in runs.values():
        solved.sort()
        out += [steps / solved[0][1] for _, steps in solved[1:]]
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", default="results/standard-v2.jsonl")
    parser.add_argument("--k", default="2,3,4,5,8", help="multiples to report the share of")
    args = parser.parse_args(argv)
    values = np.array(ratios(results.load(args.results)))
    if not len(values):
        raise SystemExit(f"{args.results}: no run solved two lengths; nothing to measure")
    print(f"{len(values):,} longer lengths solved, in {args.results}\n")
    print("| percentile | 50 | 75 | 90 | 95 | 99 | max |\n|---|---|---|---|---|---|---|")
    cuts = np.percentile(values, [50, 75, 90, 95, 99, 100])
    print("| steps / the shortest's | " + " | ".join(f"{v:.2f}" for v in cuts) + " |\n")
    print("| k | share of longer lengths solved within k x the shortest's steps |\n|---|---|")
    for k in (float(x) for x in args.k.split(",")):
        print(f"| {k:g} | {(values <= k).mean():.1%} |")


if __name__ == "__main__":
    main()

"""How far past the threshold must a run's validation metric be before it stops, so that
its test metric is not under the threshold? The measurement behind the horizon protocol's
``stop_margin`` (``Protocol.stop_margin``).

    python -m benchmarks.stop_margin                          # results/standard-v2.jsonl
    python -m benchmarks.stop_margin results/x.db --margins 0,0.1,0.2,0.3

For every network cell of a results file that stopped early because its validation metric
reached the threshold, its margin: how far past the threshold that metric was, as a
fraction of the way from the threshold to 1. For each candidate margin m: how many of these
stops were at least m past (a stop with margin m would have stopped there too) and how many
of those scored under the threshold on the test set; the rest would have trained on.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from memorybench.store import results


def early_stops(frame) -> list[tuple[float, bool, str]]:
    """(margin, test under the threshold, "task × model at T") per early stop on
    validation."""
    out = []
    for r in frame.itertuples():
        config = json.loads(r.config) if isinstance(r.config, str) else r.config
        metrics = json.loads(r.metrics) if isinstance(r.metrics, str) else r.metrics
        if r.status != "ok" or config.get("model_kind") != "network":
            continue
        validation = (metrics or {}).get("validation", {}).get(r.metric_name)
        threshold, budget = float(r.solved_threshold), config["train"]["steps"]
        if validation is None or validation < threshold or not r.steps < budget:
            continue
        margin = (validation - threshold) / (1 - threshold) if threshold < 1 else 0.0
        out.append((margin, bool(r.metric < threshold), f"{r.task} × {r.model} at {r.length}"))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", default="results/standard-v2.jsonl")
    parser.add_argument("--margins", default="0,0.05,0.1,0.2,0.3,0.5",
                        help="candidate margins, fractions of the way from threshold to 1")
    args = parser.parse_args(argv)
    stops = early_stops(results.load(args.results))
    if not stops:
        raise SystemExit(f"{args.results}: no run stopped early on validation; nothing to "
                         "measure")
    margin = np.array([m for m, _, _ in stops])
    under = np.array([u for _, u, _ in stops])
    print(f"{len(stops):,} early stops on validation, {under.sum()} of them under the "
          f"threshold on the test set, in {args.results}\n")
    print("| margin | stops at least this far past | of them under on test | "
          "stops that train on |\n|---|---|---|---|")
    for m in (float(x) for x in args.margins.split(",")):
        kept = margin >= m
        print(f"| {m:g} | {kept.sum():,} | {under[kept].sum()} | {(~kept).mean():.1%} |")
    print("\nunder the threshold on test:")
    for m, u, name in sorted(stops):
        if u:
            print(f"- {name}: margin {m:.3f}")


if __name__ == "__main__":
    main()

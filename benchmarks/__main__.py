"""Run every performance benchmark, print its tables and write them to reports/performance.md.

    python -m benchmarks                    # sections 1-4, 6-9 and memory: about 20 minutes
    python -m benchmarks --end-to-end       # and section 5: the quick suite, end to end
    python -m benchmarks --end-to-end standard   # section 5 on the leaderboard's suite (~1 h)
    python -m benchmarks --fast             # a few steps of everything: a smoke test
    python -m benchmarks --model lstm --task copy --write-costs
    python -m benchmarks.profile            # the operator profile alone (section 7)
    python -m benchmarks.scan_speed         # parallel forms vs step loops alone (section 9)
    python -m benchmarks.extrapolation_cost # a cell's extrapolation pass in its steps (16)

Timings on a shared machine are noisy: every row carries the load average it was measured
under, and the overhead ratio is measured in alternating rounds so load hits both sides.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from datetime import date
from pathlib import Path

import torch

from benchmarks import data_speed, growth, model_speed, overhead, profile, scan_speed, sweeps
from benchmarks.harness import Table, load, machine
from memorybench.tasks import TASKS

SHARE_LENGTH, SHARE_BATCH = 100, 64


def data_section(tasks: list[str], fast: bool) -> Table:
    examples, steps = (500, 2) if fast else (10_000, 10)
    table = Table(
        "2. Data: generation throughput and share of a training step",
        f"Throughput: {examples:,} examples at the task's longest spec length (best of 3). "
        f"Share: sampling one batch of {SHARE_BATCH} at length {SHARE_LENGTH} against a whole "
        "training step that samples it (`training.train_steps`), for lstm and for ffwindow "
        "(the cheapest model: the worst case), hidden 64. Target < 5%.",
        ["task", "longest length", "examples/s", "ms per batch", "share (lstm)",
         "share (ffwindow)", "load"])
    for name in tasks:
        length, seconds = data_speed.measure(name, examples, 3)
        sample, lstm = data_speed.share(name, "lstm", SHARE_LENGTH, SHARE_BATCH, steps)
        _, window = data_speed.share(name, "ffwindow", SHARE_LENGTH, SHARE_BATCH, steps)
        table.add(name, length, examples / seconds, sample * 1e3, f"{lstm:.1%}",
                  f"{window:.1%}", load())
    return table


def kept_sections(path: Path, titles: set[str]) -> str:
    """The sections of the report at ``path`` that this run did not measure (those the
    standalone modules write, ``python -m benchmarks.attention_speed``, ...), each with its
    own "measured with" line, to be kept after this run's tables; '' where there is none."""
    if not path.exists():
        return ""
    parts = path.read_text().split("\n## ")[1:]  # the first part is the header
    kept = [p for p in parts if p.splitlines()[0].strip() not in titles]
    return "".join(f"\n## {p.rstrip()}\n" for p in kept)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="a few steps of everything")
    parser.add_argument("--model", action="append", help="model (repeat); default: all")
    parser.add_argument("--task", action="append", help="task (repeat); default: all")
    parser.add_argument("--end-to-end", nargs="?", const="quick", metavar="SUITE",
                        help="also time a whole suite end to end (default: quick, minutes)")
    parser.add_argument("--write-costs", action="store_true",
                        help="write the fitted cost model to memorybench/costs.toml")
    parser.add_argument("--out", type=Path, default=Path("reports/performance.md"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as in every worker
    models = args.model or overhead.core_models()
    tasks = args.task or TASKS.names()

    facts = machine()
    print("\n".join(facts), flush=True)
    tables: list[Table] = []
    print("1, 3. overhead and evaluation", flush=True)
    tables += overhead.run(models, args.fast)
    print("2. data", flush=True)
    tables.append(data_section(tasks, args.fast))
    print("4. scaling", flush=True)
    tables.append(sweeps.scaling(args.fast))
    if args.end_to_end:
        print("5. end to end", flush=True)
        tables.append(sweeps.end_to_end(args.end_to_end))
    print("6. growth", flush=True)
    table, fits = growth.run(models, args.fast)
    tables.append(table)
    if args.write_costs:
        growth.write_costs(fits)
    print("memory", flush=True)
    tables.append(sweeps.memory(args.fast))
    print("7. profile", flush=True)
    steps = 3 if args.fast else 20
    for model in models[:1] if args.fast else [m for m in ("lstm", "elman") if m in models]:
        tables.append(profile.operator_profile("copy", model, 100, steps, number="7"))
    tables.append(profile.denormals([100] if args.fast else [100, 200, 400], steps))
    print("8. model speed", flush=True)
    tables.append(model_speed.run(models, args.fast))
    print("9. scans", flush=True)
    tables += scan_speed.run(args.fast, models=models)
    tables.sort(key=lambda t: t.title)

    command = shlex.join(["python", "-m", "benchmarks", *(sys.argv[1:] if argv is None else argv)])
    text = "\n".join(["# memorybench performance", "",
                      f"Measured {date.today().isoformat()} with `{command}`.", "",
                      *[f"- {fact}" for fact in facts],
                      f"- load average at the end: {load()}", "",
                      *[t.markdown() for t in tables]])
    text += kept_sections(args.out, {t.title for t in tables})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

"""Section 9: the modern cores' parallel forms against their own step loops, and minGRU /
minLSTM against torch's fused GRU / LSTM at long length. One torch thread.

    python -m benchmarks.scan_speed              # T=1024, batch 32, hidden 64; writes the
                                                 # section into reports/performance.md
    python -m benchmarks.scan_speed --fast --no-write     # a smoke test

Parallel vs loop: forward and backward of ``core(h, per_step=True)`` (scan, FFT or chunks)
against ``core.forward_recurrent(h)`` (one step at a time, every projection per step, as a
recurrent network runs at inference), on random (batch, T, hidden) inputs, a sum of the
outputs as the loss. Fused comparison: a whole training step (forward, backward, Adam) of
the core and a linear read-out at every step, each core at its spec's size (~130k
parameters each).
"""

from __future__ import annotations

import argparse
import functools
import re
import time
from datetime import date
from pathlib import Path

import torch

from benchmarks.harness import Table, load
from memorybench.catalog import model_class, model_spec
from memorybench.models.base import count_parameters

MODERN = ("mingru", "minlstm", "lru", "s4d", "mamba", "retnet", "mlstm")
FUSED = ("gru", "lstm", "mingru", "minlstm")
TITLE = "9. Scans: parallel forms vs step loops"


def best_ms(fn, repeats: int) -> float:
    """The least CPU time of ``repeats`` calls: on a shared machine the wall time also
    counts the time other processes hold the core, which moved ratios by a third between
    runs; with one torch thread the CPU time is the work itself."""
    fn()  # warm-up: first calls allocate and pick kernels
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return 1e3 * min(times)


def spec_core(name: str, hidden: int | None = None):
    params = dict(model_spec(name).get("params", {}))
    params.pop("embed", None)
    if hidden is not None:
        params["hidden"] = hidden
    torch.manual_seed(0)
    return model_class(name)(d_in=params["hidden"], **params)


def parallel_vs_loop(models, length: int, batch: int, hidden: int, repeats: int) -> Table:
    table = Table(
        TITLE,
        f"Forward + backward of one core, T={length}, batch {batch}, hidden {hidden}, one "
        f"thread, denormals flushed, least CPU time of {repeats} after a warm-up. `step "
        "loop`: "
        "`forward_recurrent`, one step at a time; `parallel`: `forward` (chunked scan for "
        "minGRU, minLSTM, LRU; FFT convolution for S4D; chunkwise retention for RetNet; "
        "chunkwise mLSTM; for Mamba a selective scan over its (B, T, N, E) state, 4 steps "
        "at a time in in-cache buffers, recomputed in a hand-written backward). Target "
        "ratio >= 3. Under load the ratios still move: the parallel forms are bound by "
        "cache and memory, which other processes share, the step loops much less.",
        ["model", "state floats", "step-loop ms", "parallel ms", "ratio", "load"])
    for name in models:
        core = spec_core(name, hidden)
        h = torch.randn(batch, length, hidden, requires_grad=True)  # (B, T, H)
        parallel = functools.partial(backward, functools.partial(core, per_step=True), h)
        loop = functools.partial(backward, core.forward_recurrent, h)
        fast, slow = best_ms(parallel, repeats), best_ms(loop, repeats)
        table.add(name, core.state_size(), slow, fast, f"{slow / fast:.1f}x", load())
    return table


def backward(form, h: torch.Tensor) -> None:
    form(h).sum().backward()


def train_step(core, head, opt, x: torch.Tensor) -> None:
    loss = head(core(x, per_step=True)).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()


def fused_comparison(models, length: int, batch: int, repeats: int) -> Table:
    table = Table(
        f"9. Scans: minGRU / minLSTM vs fused GRU / LSTM, training step at T={length}",
        f"One training step (forward, backward, Adam) of the core and a linear read-out at "
        f"every step, T={length}, batch {batch}, one thread, least CPU time of {repeats} "
        "after a warm-up; each core at its spec's width (~100-130k parameters) and all at "
        "width 128.",
        ["model", "hidden", "core params", "ms per step", "load"])
    for name, hidden in [(m, w) for w in (None, 128) for m in models]:
        core = spec_core(name, hidden)
        width = core.out_features
        head = torch.nn.Linear(width, 1)
        opt = torch.optim.Adam([*core.parameters(), *head.parameters()], lr=1e-3)
        x = torch.randn(batch, length, width)  # (B, T, H)
        step = functools.partial(train_step, core, head, opt, x)
        table.add(name, width, count_parameters(core), best_ms(step, repeats), load())
    return table


def write_sections(tables: list[Table], path: Path) -> None:
    """Replace this benchmark's sections of ``path`` (or append them), leaving the others."""
    text = path.read_text() if path.exists() else "# memorybench performance\n"
    text = re.sub(r"\n## 9\. Scans:.*?(?=\n## |\Z)", "", text, flags=re.S).rstrip("\n")
    stamp = (f"Section 9 measured {date.today().isoformat()} with "
             "`python -m benchmarks.scan_speed`.\n")
    path.write_text(text + "\n\n" + "\n".join(t.markdown() for t in tables) + "\n" + stamp)


def run(fast: bool, length: int = 1024, batch: int = 32, hidden: int = 64,
        models=None) -> list[Table]:
    """This section's tables over ``models`` (default: every modern core, and GRU, LSTM,
    minGRU and minLSTM for the fused comparison); a table with no model is left out."""
    length, repeats = (64, 1) if fast else (length, 5)
    modern = [m for m in models or MODERN if m in MODERN]
    fused = [m for m in models or FUSED if m in FUSED]
    tables = []
    torch.set_flush_denormal(True)  # as train_cell does: decayed states reach denormals
    try:
        if modern:
            tables.append(parallel_vs_loop(modern, length, batch, hidden, repeats))
        if fused:
            tables.append(fused_comparison(fused, length, batch, repeats))
    finally:
        torch.set_flush_denormal(False)
    return tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="model (repeat); default: all modern")
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--fast", action="store_true", help="T=64, one repeat: a smoke test")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--out", type=Path, default=Path("reports/performance.md"))
    args = parser.parse_args()
    torch.set_num_threads(1)  # as in every worker
    print(f"torch {torch.__version__}, load average at the start: {load()}", flush=True)
    tables = run(args.fast, args.length, args.batch, args.hidden, args.model)
    for table in tables:
        print(table.markdown())
    if not args.no_write:
        write_sections(tables, args.out)


if __name__ == "__main__":
    main()

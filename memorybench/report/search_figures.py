"""Figures of the horizon search section: every model's bracket on one log-length axis,
extrapolation to multiples of the trained length, and learning curves at both ends of a
bracket (``memorybench.report.searches`` draws them)."""

from __future__ import annotations

import matplotlib
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import FixedFormatter, FixedLocator, FuncFormatter, NullLocator

from memorybench.report import figures
from memorybench.report.figures import (
    GREY,
    MARKERS,
    RC,
    SEED_TICK,
    THRESHOLD_DASH,
    canvas,
    label,
    legend,
    value_range,
)


def search_figure(found: list[dict], ranked_models: list[str]) -> bytes:
    """The headline: every model's horizon on every task on one log-length axis, a bar
    from the longest length solved to the first failed (an arrow: solved up to the task's
    cap; an open marker at the first rung: failed it), a tick at each seed's own horizon,
    models (``label``) in ``ranked_models`` order top down (networks by memory score, then
    non-causal ones, then baselines, each group ruled off from the next)."""
    tasks = sorted({s["task"] for s in found})
    colours = sns.color_palette("colorblind", 10).as_hex()  # tasks: as ``style``'s models
    rows = {m: i for i, m in enumerate(ranked_models)}
    with canvas((10.5, 1.2 + 0.55 * len(ranked_models))) as (fig, ax):
        for t, task in enumerate(tasks):
            colour, marker = colours[t % 10], MARKERS[t % len(MARKERS)]
            offset = (t - (len(tasks) - 1) / 2) * 0.5 / max(len(tasks), 1)
            for s in (s for s in found if s["task"] == task):
                y, lo, hi = rows[s["label"]] + offset, s["state"].lo, s["state"].hi
                seeds = sorted(v for v in s["seeds"].values() if v is not None)
                ax.plot(seeds, [y] * len(seeds), linestyle="none", marker="|", markersize=12,
                        markeredgewidth=1.5, color=SEED_TICK, zorder=4, gid="seed-horizon")
                if lo is None:
                    ax.plot([hi], [y], marker=marker, color=colour, fillstyle="none")
                    continue
                end = hi if hi is not None else s["cap"]
                ax.plot([lo, end], [y, y], color=colour, linewidth=3, alpha=0.6)
                ax.plot([lo], [y], marker=marker, color=colour, linestyle="none")
                if hi is None:
                    ax.plot([end], [y], marker=">", color=colour, linestyle="none")
            ax.plot([], [], marker=marker, color=colour, label=label(task))
        ax.plot([], [], linestyle="none", marker="|", markersize=12, markeredgewidth=1.5,
                color=SEED_TICK, label="one seed's horizon")
        groups = {s["label"]: s["group"] for s in found}
        for i in range(1, len(ranked_models)):
            if groups[ranked_models[i]] != groups[ranked_models[i - 1]]:
                ax.axhline(i - 0.5, color=GREY, linewidth=1)
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_yticks(range(len(ranked_models)), [label(m) for m in ranked_models])
        ax.invert_yaxis()
        ax.set_xlabel("sequence length (log scale): solved at the marker, failed at the bar's end")
        ax.set_title("Memory horizon of every model on every task")
        legend(ax)
        return figures.png(fig)


def extrapolation_figure(found: list[dict], styles: dict, task: str) -> bytes:
    """One task: each model, trained at its horizon's length L, scored at k x L (k = 1: the
    test set at L); the mean over seeds as a line, every seed as a point."""
    with canvas() as (fig, ax):
        for s in found:
            colour, marker = styles[s["model"]][:2]
            frame = pd.DataFrame(s["points"], columns=["k", "seed", "value"])
            mean = frame.groupby("k")["value"].mean()
            ax.plot(mean.index, mean.to_numpy(), color=colour, marker=marker,
                    label=label(f"{s['label']} (L={s['state'].lo})"))
            ax.scatter(frame["k"], frame["value"], color=colour, alpha=0.45, s=30)
        _threshold(ax, found)
        ks = sorted({k for s in found for k, _, _ in s["points"]})
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(FixedLocator(ks))
        ax.xaxis.set_major_formatter(FixedFormatter([f"{k}×" for k in ks]))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("test length, in multiples of the training length L")
        ax.set_title(label(f"{task}: length extrapolation"))
        legend(ax)
        return figures.png(fig)


def _threshold(ax, found: list[dict]) -> None:
    """The solved threshold of a search's task as a grey dotted line, where stored."""
    threshold = next((s["threshold"] for s in found if s["threshold"] is not None), None)
    if threshold is not None:
        ax.axhline(threshold, color=GREY, linestyle=THRESHOLD_DASH, linewidth=2,
                   label="solved threshold")


CURVE_ENDS = (("lo", "at the longest length solved"), ("hi", "at the first length failed"))


def curve_figure(found: list[dict], styles: dict, task: str) -> bytes:
    """One task of a search: the held-out (validation) metric against training step, a thin
    line per seed (gid "seed-curve"), of each model at the longest length it solved (left)
    and at the first length it failed (right), at the learning rate chosen there."""
    name = found[0]["metric_name"]
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(14, 6.2), layout="constrained")
        axes = fig.subplots(1, 2, sharey=True)
        values = [s["threshold"] for s in found if s["threshold"] is not None]
        for ax, (end, title) in zip(axes, CURVE_ENDS, strict=True):
            for s in found:
                colour, _, dash = styles[s["model"]]
                length = s["state"].lo if end == "lo" else s["state"].hi
                for i, (_, curve) in enumerate(s["curves"].get(end, [])):
                    steps, metric = zip(*curve, strict=True)
                    values += metric
                    ax.plot(steps, metric, color=colour, linestyle=dash, linewidth=1.3,
                            alpha=0.85, marker="." if len(curve) == 1 else None,
                            gid="seed-curve",
                            label=label(f"{s['label']}, T={length}") if i == 0 else None)
            if not ax.lines:
                ax.text(0.5, 0.5, "no model " + ("solved" if end == "lo" else "failed") +
                        " a length", transform=ax.transAxes, ha="center", color=GREY)
            _threshold(ax, found)
            ax.set_xlabel("training step")
            ax.set_title(title)
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
        value_range(axes[0], values)
        axes[0].set_ylabel(label(f"held-out {name} (validation set)"))
        fig.suptitle(label(f"{task}: learning curves, one line per seed"))
        return figures.png(fig)

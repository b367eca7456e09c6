"""Figures of the horizon search section: the headline, every model's bracket on every task
(a panel per task, one log-length axis, drawn for a page's width and for a phone's, with
each mark's box so a test can see that none hides another), extrapolation to multiples of
the trained length, and learning curves at both ends of a bracket
(``memorybench.report.searches`` draws them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import matplotlib
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.markers import MarkerStyle
from matplotlib.ticker import (
    FixedFormatter,
    FixedLocator,
    FuncFormatter,
    NullFormatter,
    NullLocator,
)
from matplotlib.transforms import offset_copy

from memorybench.report import figures
from memorybench.report.figures import (
    GREY,
    RC,
    SEED_TICK,
    THRESHOLD_DASH,
    canvas,
    label,
    legend,
    value_range,
)

# The headline's marks, one per verdict of ``memorybench.horizon.rules``: kind -> (legend
# text, matplotlib style, points to the right of its length). Okabe & Ito's blue (solved) and
# vermillion (failed) stay apart under every colour blindness, and no mark rests on colour
# alone: each has its own shape. A mark that says more about a length already marked (↗, ≥)
# stands beside that mark, never on it.
BLUE, VERMILLION = "#0072B2", "#D55E00"
MARKS: dict[str, tuple[str, dict, float]] = {
    "solved": ("longest length solved (majority of seeds)",
               {"marker": "o", "markersize": 7, "color": BLUE}, 0.0),
    "failed": ("first length failed", {"marker": "|", "markersize": 9,
                                       "markeredgewidth": 2.2, "color": VERMILLION}, 0.0),
    "first-rung": ("failed the first length tried (<)",
                   {"marker": "o", "markersize": 8, "fillstyle": "none",
                    "markeredgewidth": 2, "color": VERMILLION}, 0.0),
    "capped": ("no length failed, up to the cap (≥)",
               {"marker": ">", "markersize": 8, "color": BLUE}, 10.0),
    "open": ("open: the search has not closed (≥)",
             {"marker": ">", "markersize": 8, "fillstyle": "none", "markeredgewidth": 1.5,
              "color": BLUE}, 10.0),
    "budget": ("failed still learning: the budget's (↗)",
               {"marker": "$↗$", "markersize": 10, "color": SEED_TICK}, 11.0),
    "not-learned": ("not learned (failed its control)",
                    {"marker": "$∅$", "markersize": 10, "color": GREY}, 0.0),
    "seed": ("one seed's horizon", {"marker": "|", "markersize": 4.5, "markeredgewidth": 1.2,
                                    "color": SEED_TICK}, 0.0),
}
BRACKET: dict[str, Any] = {"color": BLUE, "linewidth": 4, "alpha": 0.35, "solid_capstyle": "butt"}
ROW = 0.26  # inches per model: a mark's height and, below it, its seeds' ticks
SEED_DROP = 0.47  # the seeds' ticks sit this far below their row (in rows), apart from marks
SEED_DODGE = 2.5  # points between ticks of seeds with one horizon, so each shows
# (inches, panels across) of a page's figure and a phone's, about 1500 and 600 px wide at
# 120 dpi: each shows its smallest text (13 pt, 21.7 px) at 11 px or more, the first in the
# page's 1150 px column (scaled by 0.76), the second on a 390 px phone (by 0.6), which the
# page shows it instead (``templates/report.html.j2``).
WIDE, NARROW = (12.5, 4), (5.0, 1)


@dataclass(frozen=True)
class Mark:
    """One mark of the headline as drawn: its kind (``MARKS``), task, model and box in the
    figure's pixels (x0, y0, x1, y1)."""

    kind: str
    task: str
    model: str
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class Headline:
    """The headline figure: its PNG, every mark with its box, and the legend's texts."""

    png: bytes
    marks: list[Mark]
    legend: list[str]


def search_figure(found: list[dict], ranked_models: list[str], narrow: bool = False) -> bytes:
    """The headline (``headline``) as PNG bytes: for a page, or for a phone (``narrow``)."""
    return headline(found, ranked_models, narrow).png


def headline(found: list[dict], ranked_models: list[str], narrow: bool = False) -> Headline:
    """Every model's horizon on every task: a panel per task, all on one log-length axis,
    models (``label``) down in ``ranked_models`` order (networks by memory score, then
    non-causal ones, then baselines, each group ruled off from the next). A search's bracket
    is a bar from the longest length solved to the first failed, each verdict a mark of its
    own shape (``MARKS``), and a tick below it at each seed's own horizon. Panels sit four
    across, or one above another where ``narrow`` (a phone's screen)."""
    tasks = sorted({s["task"] for s in found})
    width, across = NARROW if narrow else WIDE
    across = min(across, len(tasks))
    down = -(-len(tasks) // across)
    rows = {m: i for i, m in enumerate(ranked_models)}
    lengths = [n for s in found for n in (s["state"].lo, s["state"].hi,
                                            *s["seeds"].values()) if n]
    ncol = 1 if narrow else 2
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(width, down * (0.95 + ROW * len(rows)) + 0.9
                              + 0.32 * -(-len(MARKS) // ncol)), layout="constrained")
        axes = fig.subplots(down, across, squeeze=False, sharey=True).flatten()
        drawn: list[tuple[str, str, str, Line2D]] = []
        for ax, task in zip(axes, tasks, strict=False):
            for s in (s for s in found if s["task"] == task):
                drawn += [(kind, task, s["label"], line)
                          for kind, line in _search_marks(ax, s, rows[s["label"]])]
            _panel(ax, task, ranked_models, {s["label"]: s["group"] for s in found},
                   (min(lengths, default=4) / 1.6, max(lengths, default=4) * 2.4))
        for ax in axes[len(tasks):]:
            fig.delaxes(ax)
        kinds = [k for k in MARKS if any(kind == k for kind, *_ in drawn)]
        bars = [Line2D([], [], **BRACKET)] if "failed" in kinds else []  # drawn with it
        handles = bars + [Line2D([], [], linestyle="none", **MARKS[k][1]) for k in kinds]
        texts = ["bracket: solved to first failed"] * len(bars) + [MARKS[k][0] for k in kinds]
        fig.legend(handles, texts, loc="outside lower center", ncol=ncol, frameon=False)
        fig.suptitle("Memory horizon of every model\non every task, log length axis")
        fig.draw_without_rendering()  # the layout that places every mark
        marks = [Mark(kind, task, model, _box(line, fig.dpi))
                 for kind, task, model, line in drawn]
        return Headline(figures.png(fig), marks, texts)


def _search_marks(ax, s: dict, y: int) -> list[tuple[str, Line2D]]:
    """Draw one search in its model's row ``y``; its marks by kind."""
    state, out = s["state"], []
    lo, hi = state.lo, state.hi
    budget = hi is not None and s["rungs"][hi].budget_bound

    def mark(kind: str, x: float, dy: float = 0.0, shift: float = 0.0) -> None:
        style, points = MARKS[kind][1], MARKS[kind][2] + shift
        transform = offset_copy(ax.transData, ax.figure, x=points, units="points")
        (line,) = ax.plot([x], [y + dy], linestyle="none", gid=kind, zorder=5,
                          transform=transform, **style)
        out.append((kind, line))

    if s.get("pending") is not None:  # a failure still to be checked: open where it stands
        if lo is not None:
            mark("solved", lo)
        mark("open", lo if lo is not None else s["pending"])
        budget = False
    elif s.get("not_learned"):
        mark("not-learned", hi)
    elif lo is None:
        mark("first-rung", hi)
    else:
        if hi is not None:
            ax.plot([lo, hi], [y, y], zorder=3, **BRACKET)
            mark("failed", hi)
        mark("solved", lo)
        if hi is None:
            mark("capped" if lo >= s["cap"] else "open", lo)
    if budget and not s.get("not_learned"):
        mark("budget", hi)
    seeds = sorted(n for n in s["seeds"].values() if n is not None)
    for n in sorted(set(seeds)):
        k = seeds.count(n)
        for i in range(k):
            mark("seed", n, SEED_DROP, (i - (k - 1) / 2) * SEED_DODGE)
    return out


def _panel(ax, task: str, models: list[str], groups: dict, span: tuple[float, float]) -> None:
    """One task's axes: the shared length axis, model rows, rules between model groups."""
    for i in range(1, len(models)):
        if groups[models[i]] != groups[models[i - 1]]:
            ax.axhline(i - 0.5, color=GREY, linewidth=1)
    ax.set_xscale("log", base=2)
    ax.set_xlim(*span)
    powers = [2 ** k for k in range(1, 31) if span[0] <= 2 ** k <= span[1]]
    ax.xaxis.set_major_locator(FixedLocator(powers[::2] if len(powers) > 6 else powers))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(FixedLocator(powers))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.grid(True, which="both", axis="x")
    ax.set_yticks(range(len(models)), [label(m) for m in models])
    ax.set_ylim(len(models) - 0.5, -0.5)  # the best model on top
    ax.set_title(label(task), fontsize=15)


def _box(line: Line2D, dpi: float) -> tuple[float, float, float, float]:
    """A one-point line's marker as drawn, in figure pixels: its shape's extent at its size,
    with half its edge's width around it."""
    ((x, y),) = line.get_transform().transform(line.get_xydata())
    marker = MarkerStyle(line.get_marker(), line.get_fillstyle())
    shape = marker.get_path().transformed(marker.get_transform()).get_extents()
    size, pad = line.get_markersize() * dpi / 72, line.get_markeredgewidth() * dpi / 144
    return (x + shape.x0 * size - pad, y + shape.y0 * size - pad,
            x + shape.x1 * size + pad, y + shape.y1 * size + pad)


def overlaps(marks: list[Mark]) -> list[tuple[Mark, Mark]]:
    """Pairs of marks whose boxes overlap (touching is not overlapping): one would hide
    the other."""
    out = []
    ordered = sorted(marks, key=lambda m: m.box[0])
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            if b.box[0] >= a.box[2]:
                break
            if b.box[1] < a.box[3] and a.box[1] < b.box[3]:
                out.append((a, b))
    return out


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

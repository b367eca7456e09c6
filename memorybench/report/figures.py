"""Figures of the report, as PNG bytes that repeat exactly for the same numbers.

Determinism: figures are drawn on a bare ``matplotlib.figure.Figure`` (Agg canvas, no pyplot
state) inside a fixed ``rc_context``, with the bundled DejaVu font, and saved without the
"Software" metadata that would carry a version string. Readability: large type for a
projector, the colour-blind palette of seaborn, one colour and marker per model across every
figure of a report.
"""

from __future__ import annotations

import io
from contextlib import contextmanager
from itertools import cycle
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import FixedFormatter, FixedLocator, FuncFormatter, NullLocator

from memorybench.errors import printable
from memorybench.report import gradients
from memorybench.report.gradients import PHASES, R2_FLOOR

if TYPE_CHECKING:  # matplotlib.typing is new in matplotlib 3.8
    from matplotlib.typing import RcKeyType

RC: dict[RcKeyType, Any] = {
    "font.family": "DejaVu Sans", "font.size": 14, "axes.titlesize": 17, "axes.labelsize": 15,
    "xtick.labelsize": 13, "ytick.labelsize": 13, "legend.fontsize": 13,
    "legend.title_fontsize": 13, "lines.linewidth": 2.5, "lines.markersize": 9,
    "axes.grid": True, "grid.alpha": 0.35, "axes.spines.top": False, "axes.spines.right": False,
    "axes.formatter.useoffset": False, "text.usetex": False, "svg.hashsalt": "memorybench",
    "savefig.dpi": 120, "figure.dpi": 120, "image.cmap": "viridis",
}
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "p"]
SEED_SIZE = 4.5  # one seed's point: small beside a mean's marker (9)
GREY = "#555555"
SEED_TICK = "#222222"  # a seed's horizon: dark, to show over a task's coloured bar and marker
# Reference levels are grey; each kind has its own dash so none reads as another: chance
# (and R² = 0) dash-dot, the solved threshold dotted, classical baselines plain dashes with
# markers.
CHANCE_DASH = (0, (9, 3, 2, 3))
THRESHOLD_DASH = ":"
BASELINE_DASH = "--"
VARIANT_DASHES = ["-", (0, (6, 2)), (0, (8, 2, 2, 2)), (0, (2, 1.5))]  # a model's variants
PLOTTING = ("matplotlib", "seaborn", "pandas")  # the figures' bytes depend on their versions


def plotting_versions() -> dict[str, str]:
    """Versions of the libraries that draw the figures (not those that trained the results)."""
    from importlib.metadata import version

    return {name: version(name) for name in PLOTTING}


def style(models: list[str], baselines: frozenset[str] = frozenset()) -> dict[str, tuple]:
    """Model -> (colour, marker, line style), fixed for a whole report. Networks take the
    colour-blind palette in name order (markers shift each time it repeats); classical
    baselines are drawn in greys with dashed lines, so they read as reference levels."""
    # seaborn's "colorblind" palette (after Okabe & Ito's, whose colours stay apart under
    # deuteranopia, protanopia and tritanopia), its grey swapped for Tol's indigo: greys are
    # baselines'. The first ten models also differ by marker: no line rests on colour alone.
    colours = [c for c in sns.color_palette("colorblind", 10).as_hex() if c != "#949494"]
    colours.append("#332288")
    greys = ["#555555", "#888888", "#aaaaaa", "#333333"]
    out, networks = {}, [m for m in sorted(models) if m not in baselines]
    for i, m in enumerate(networks):
        out[m] = (colours[i % 10], MARKERS[(i + i // 10) % len(MARKERS)], "-")
    for i, m in enumerate(sorted(set(models) & set(baselines))):
        out[m] = (greys[i % len(greys)], MARKERS[(i + 3) % len(MARKERS)], BASELINE_DASH)
    return out


def label(text) -> str:
    """A name as matplotlib shows it literally: no mathtext from a '$' in it, and a control
    character shown as its escape (matplotlib's warning of a missing glyph would otherwise
    send it, an escape sequence from a results file, to the terminal)."""
    return printable(text).replace("$", r"\$")


@contextmanager
def canvas(size: tuple[float, float] = (9.5, 5.2)):
    """A one-axes figure drawn under ``RC``; save it with ``png`` inside the block."""
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=size)
        yield fig, fig.subplots()


def png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def _length_axis(ax, lengths) -> None:
    """Log scale when lengths span a decade or more; ticks at the swept lengths."""
    lengths = sorted(set(int(n) for n in lengths))
    if lengths[-1] >= 10 * lengths[0]:
        ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(lengths))
    ax.xaxis.set_major_formatter(FixedFormatter([str(n) for n in lengths]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("sequence length")


def legend(ax) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)


def _mean_lines(ax, summary: pd.DataFrame, styles: dict) -> None:
    """Mean over seeds per model, its ``summary.INTERVAL`` as a band where there is one, and
    each seed's value as a small point (gid "seed") in the model's colour and marker."""
    for model, g in summary.groupby("model", sort=True):
        g = g.sort_values("length")
        colour, marker, line = styles[model]
        ax.plot(g["length"].to_numpy(), g["mean"].to_numpy(), color=colour, marker=marker,
                linestyle=line, label=label(model))
        band = g["lo"].notna().to_numpy()
        if band.any():
            ax.fill_between(g["length"].to_numpy()[band], g["lo"].to_numpy()[band],
                            g["hi"].to_numpy()[band], color=colour, alpha=0.2, linewidth=0)
        x, y = seed_values(g)
        ax.plot(x, y, linestyle="none", marker=marker, markersize=SEED_SIZE, color=colour,
                markeredgecolor="white", markeredgewidth=0.8, zorder=3, gid="seed")
    ax.plot([], [], linestyle="none", marker="o", markersize=SEED_SIZE, color=GREY,
            markeredgecolor="white", markeredgewidth=0.8, label="one seed")


def seed_values(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(length, value) of every ok seed in summary rows (``by_length``'s ``values``)."""
    pairs = [(n, v) for n, values in zip(summary["length"], summary["values"], strict=True)
             for v in values]
    return (np.array([n for n, _ in pairs], dtype=float),
            np.array([v for _, v in pairs], dtype=float))


def value_range(ax, *series) -> None:
    """The y axis spans the values (means, seeds, reference levels), not the intervals: a t
    interval over a few seeds may reach far past them, and its band is then cut at the
    axis. [0, 1] when every value lies in it."""
    values = np.concatenate([np.asarray(s, dtype=float) for s in series])
    values = values[np.isfinite(values)]
    if not len(values):
        return
    if values.min() >= 0 and values.max() <= 1:
        ax.set_ylim(-0.03, 1.03)
        return
    pad = 0.05 * (values.max() - values.min() or 1.0)
    ax.set_ylim(values.min() - pad, values.max() + pad)


def score_figure(summary: pd.DataFrame, styles: dict, task: str, metric_name: str) -> bytes:
    """One task: metric against length, one line per model, chance and threshold lines."""
    with canvas() as (fig, ax):
        _mean_lines(ax, summary, styles)
        chance = summary.groupby("length")["chance"].first().dropna()
        if len(chance):
            ax.plot(chance.index, chance.to_numpy(), color=GREY, linestyle=CHANCE_DASH,
                    linewidth=2, label="chance (memoryless)")
        threshold = summary["threshold"].dropna()
        if len(threshold):
            ax.axhline(threshold.iloc[0], color=GREY, linestyle=THRESHOLD_DASH, linewidth=2,
                       label="solved threshold")
        _length_axis(ax, summary["length"])
        value_range(ax, summary["mean"], seed_values(summary)[1], chance)
        ax.set_ylabel(label(metric_name))
        ax.set_title(label(f"{task}: {metric_name} against length"))
        legend(ax)
        return png(fig)


def r2_figure(summary: pd.DataFrame, styles: dict, task: str) -> bytes:
    """Forecasting: R² against length, with R² = 0 (predict the mean) as reference."""
    with canvas() as (fig, ax):
        _mean_lines(ax, summary, styles)
        ax.axhline(0.0, color=GREY, linestyle=CHANCE_DASH, linewidth=2,
                   label="predict the mean")
        _length_axis(ax, summary["length"])
        value_range(ax, summary["mean"], seed_values(summary)[1], [0.0])
        ax.set_ylabel("R²")
        ax.set_title(label(f"{task}: R² against length"))
        legend(ax)
        return png(fig)


def horizon_figure(share: pd.DataFrame, text: pd.DataFrame) -> bytes:
    """Model x task heatmap; colour = share of swept lengths inside the horizon, text = it."""
    rows, cols = share.shape
    with canvas((3.5 + 1.7 * cols, 1.6 + 0.65 * rows)) as (fig, ax):
        sns.heatmap(share.rename(index=label, columns=label), annot=text.to_numpy(), fmt="",
                    vmin=0, vmax=1, cmap="viridis", linewidths=2, linecolor="white", ax=ax,
                    annot_kws={"fontsize": 15},
                    cbar_kws={"label": "share of swept lengths\nwithin the horizon"})
        ax.set_facecolor("#e6e6e6")  # a pair never run shows as a plain grey cell
        ax.set_xlabel("task")
        ax.set_ylabel("model")
        ax.set_title("memory horizon (longest solved length)")
        ax.tick_params(axis="y", rotation=0)
        ax.grid(False)
        return png(fig)


def attractor_figure(attr: pd.DataFrame, styles: dict, task: str,
                     published: list[tuple[str, list[float]]]) -> bytes:
    """Accuracy against attractor count (all lengths pooled), published curves in grey."""
    with canvas() as (fig, ax):
        means = attr.groupby(["model", "attractors"])["accuracy"].mean()
        for model in sorted(attr["model"].unique()):
            series = means.loc[model]
            colour, marker, line = styles[model]
            ax.plot(series.index.to_numpy(), series.to_numpy(), color=colour, marker=marker,
                    linestyle=line, label=label(model))
        for (name, values), dash in zip(published, cycle([(4, 2), (1, 1.5), (6, 2, 1, 2)]),
                                        strict=False):
            ax.plot(range(len(values)), values, color=GREY, dashes=dash, linewidth=2,
                    marker=".", label=label(name))
        counts = sorted(set(attr["attractors"]) | {i for _, v in published
                                                   for i in range(len(v))})
        ax.xaxis.set_major_locator(FixedLocator(counts))
        ax.set_xlabel("number of attractors")
        ax.set_ylabel("accuracy")
        ax.set_ylim(-0.03, 1.03)
        ax.set_title(label(f"{task}: accuracy by attractors (all lengths pooled)"))
        legend(ax)
        return png(fig)


def flow_figure(group: pd.DataFrame, styles: dict, title: str) -> bytes:
    """Diagnostics: ||dLoss/dh_t|| against distance on a log scale, at initialization and
    after training side by side; one line per (model, variant), band over the batch."""
    n = gradients.sequence_steps(group)
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(13, 5.6), layout="constrained")  # room for a 2-line title
        axes = fig.subplots(1, 2, sharey=True)
        for ax, (phase, name) in zip(axes, PHASES, strict=True):
            for text, model, i, rows in gradients.lines(group):
                colour = styles[model][0]
                mean, lo, hi = gradients.curves(rows, phase)
                d = np.arange(len(mean))
                ax.plot(d, mean, color=colour, linestyle=_variant_dash(i), label=label(text))
                ax.fill_between(d, np.maximum(lo, 1e-300), hi, color=colour, alpha=0.18,
                                linewidth=0)
            ax.set_yscale("log")
            ax.set_xlim(0, n - 1)
            ax.set_xlabel(f"distance d from the last step (of N = {n})")
            ax.set_title(name)
        axes[0].set_ylabel("‖dLoss/dh_t‖,  t = N-1-d")
        fig.suptitle(label(title))
        legend(axes[1])
        return png(fig)


def _variant_dash(i: int):
    return VARIANT_DASHES[i % len(VARIANT_DASHES)]


def clip_low(r2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R² as drawn (values below ``R2_FLOOR`` raised to it, NaN kept as a gap) and which
    values were raised, to be marked."""
    low = r2 < R2_FLOOR  # False for NaN
    return np.where(low, R2_FLOOR, r2), low


def probe_figure(group: pd.DataFrame, styles: dict, title: str) -> bytes:
    """Diagnostics: memory probe R² against distance; values below ``R2_FLOOR`` sit on the
    lower edge as open triangles (the table has their values), so the axis never hides them
    silently."""
    n = gradients.sequence_steps(group)
    with canvas() as (fig, ax):
        clipped = False
        for text, model, i, rows in gradients.lines(group):
            colour, marker = styles[model][:2]
            d = np.asarray(rows["result"].iloc[0]["probe_distances"]) + 1
            for phase, style in (("trained", {"linestyle": _variant_dash(i), "marker": marker,
                                              "label": label(text)}),
                                 ("init", {"linestyle": ":", "linewidth": 1.5})):
                shown, low = clip_low(gradients.probe_means(rows, phase))
                ax.plot(d, shown, color=colour, **style)
                if low.any():
                    clipped = True
                    ax.plot(d[low], np.full(low.sum(), R2_FLOOR), linestyle="none", marker="v",
                            markersize=11, markerfacecolor="white", color=colour)
        ax.plot([], [], color=GREY, linestyle=":", linewidth=1.5, label="at initialization")
        if clipped:
            ax.plot([], [], linestyle="none", marker="v", markerfacecolor="white", color=GREY,
                    label=f"below {R2_FLOOR} (see table)")
        ax.axhline(0.0, color=GREY, linestyle=CHANCE_DASH, linewidth=2, label="predict the mean")
        probed = np.concatenate([r["probe_distances"] for r in group["result"]]) + 1
        if probed.max() >= 10 * probed.min():  # log only where distances span a decade
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_ylim(R2_FLOOR - 0.04, 1.05)
        ax.set_xlabel(f"distance from the last step + 1 (of N = {n})")
        ax.set_ylabel("probe R² (held out)")
        ax.set_title(label(title))
        legend(ax)
        return png(fig)

"""The report's figures (report/figures.py, report/search_figures.py): the plotting libraries
are named in the run facts, reference lines differ by dash, models take the colour-blind
palette and each its own marker, every seed is a point of the accuracy figure, and the
headline hides no mark under another, names every mark in its legend and is drawn at sizes
a page and a phone show readably."""

import io
import math

import pytest
from PIL import Image
from test_report import cell, store_of

from memorybench.horizon import rules
from memorybench.report import figures, render_report, search_figures, summary
from memorybench.store import Store


def test_run_facts_list_the_plotting_libraries(tmp_path):
    rows = [cell("copy", "lstm", n, 0, 0.5) for n in (10, 20)]
    out = tmp_path / "r"
    render_report(store_of(tmp_path / "s.db", rows), out)
    versions = figures.plotting_versions()
    assert set(versions) == {"matplotlib", "seaborn", "pandas"}
    line = ", ".join(f"{k} {v}" for k, v in versions.items())
    assert f"- Figures drawn with {line}" in (out / "README.md").read_text()
    assert f"Figures drawn with {line}" in (out / "index.html").read_text()


def test_reference_lines_differ_by_dash():
    styles = figures.style(["lstm", "ridge-window"], frozenset({"ridge-window"}))
    dashes = {figures.CHANCE_DASH, figures.THRESHOLD_DASH, styles["ridge-window"][2]}
    assert len(dashes) == 3
    assert styles["ridge-window"][2] == figures.BASELINE_DASH


def test_models_take_the_colour_blind_palette_and_each_its_own_marker():
    import seaborn as sns

    models = [f"m{i:02d}" for i in range(10)]
    styles = figures.style(models)
    safe = set(sns.color_palette("colorblind", 10).as_hex()) - {"#949494"} | {"#332288"}
    assert {colour for colour, _, _ in styles.values()} == safe
    assert len({marker for _, marker, _ in styles.values()}) == 10


def drawn(monkeypatch):
    """Figures drawn by the report's figure functions, kept before they become PNG bytes."""
    kept = []
    real = figures.png

    def keep(fig):
        kept.append(fig)
        return real(fig)

    monkeypatch.setattr(figures, "png", keep)
    return kept


def test_every_seed_is_a_point_in_the_accuracy_figure(monkeypatch, tmp_path):
    rows = [cell("copy", model, n, seed, 0.5 + 0.1 * seed) for model in ("lstm", "gru")
            for n in (10, 20) for seed in range(3)]
    rows.append(cell("copy", "gru", 20, 3, math.nan, status="failed", metric=None))
    frame = summary.normalise(Store(store_of(tmp_path / "s.db", rows), readonly=True).frame())
    scores = summary.by_length(frame)
    assert scores["values"].map(len).tolist() == [3, 3, 3, 3]  # the failed seed is no point
    kept = drawn(monkeypatch)
    figures.score_figure(scores, figures.style(["gru", "lstm"]), "copy", "accuracy")
    (fig,) = kept
    seeds = [line for line in fig.axes[0].lines if line.get_gid() == "seed"]
    assert len(seeds) == 2  # one set of points per model
    points = sorted((float(x), round(float(y), 6)) for line in seeds
                    for x, y in zip(*line.get_data(), strict=True))
    assert points == sorted((float(n), round(0.5 + 0.1 * s, 6)) for _ in range(2)
                            for n in (10, 20) for s in range(3))


def a_search(task, model, lo, hi, seeds, *, group=0, cap=1024, budget=False,
             not_learned=False):
    """One search as ``searches.section`` gives it to the headline: its bracket [lo, hi),
    its seeds' horizons, its first failed rung (all of its seeds still learning where
    ``budget``)."""
    rungs = {} if hi is None else {hi: rules.Rung(
        hi, 0.01, {0: False, 1: False, 2: False}, False, {}, rising=dict.fromkeys(range(3),
                                                                                 budget))}
    return {"task": task, "label": model, "group": group, "cap": cap, "rungs": rungs,
            "state": rules.State(None, lo, hi, ()), "seeds": dict(enumerate(seeds)),
            "not_learned": not_learned}


# Brackets as close as the committed leaderboard holds them ([8, 10), [6, 8)), every verdict
# once per task at least, cycled so that each model's row crosses every kind of mark.
CASES = [
    dict(lo=8, hi=10, seeds=(8, 8, 10)),
    dict(lo=6, hi=8, seeds=(6, 6, 8)),
    dict(lo=None, hi=8, seeds=(None, None, 8), budget=True),  # "< 8 ↗"
    dict(lo=1024, hi=None, seeds=(1024, 1024, 1024)),  # "≥ 1024 (capped)"
    dict(lo=256, hi=None, seeds=(256, 256, 512)),  # "≥ 256 (open)", short of the cap
    dict(lo=None, hi=4, seeds=(None, None, None), not_learned=True),
    dict(lo=45, hi=64, seeds=(45, 64, 32), budget=True),  # "≥ 45 (budget)"
    dict(lo=None, hi=4, seeds=(None, None, 4)),  # "< 4"
]
TASKS = ["adding", "copy", "flipflop", "forecasting", "parity", "recall"]
MODELS = ["lstm", "gru", "mamba", "s4d", "elman", "ffwindow", "birnn (non-causal)",
          "ridge-window (baseline)"]


def crowded():
    """Every model on every task, the issue's crowded row among them: lstm fails copy at 8
    (a hollow mark at 8) and solves forecasting at 8, which one axis drew on top of it."""
    found = [a_search(task, model, group=min(m // 6, 2) + (m == 7),
                      **CASES[(t + m) % len(CASES)])
             for t, task in enumerate(TASKS) for m, model in enumerate(MODELS)]
    found[TASKS.index("copy") * len(MODELS)] = a_search("copy", "lstm", None, 8, (None,) * 3)
    found[TASKS.index("forecasting") * len(MODELS)] = a_search("forecasting", "lstm", 8, 11,
                                                               (8, 8, 11))
    return found


def test_overlaps_finds_marks_whose_boxes_cross_and_not_those_that_touch():
    mark = search_figures.Mark
    a, b = mark("solved", "t", "m", (0, 0, 10, 10)), mark("failed", "t", "m", (8, 2, 10, 8))
    touching = mark("capped", "t", "m", (10, 0, 20, 10))
    assert search_figures.overlaps([a, b, touching]) == [(a, b)]


@pytest.mark.parametrize("narrow", [False, True])
def test_the_headline_hides_no_mark_under_another(narrow):
    """A panel per task keeps tasks apart (the issue: lstm's failed copy at 8 hidden under its
    forecasting mark at 8), and within a panel the marks of one search stand apart, the ↗ and
    ≥ beside the length they qualify, each seed's tick below its row."""
    drawn = search_figures.headline(crowded(), MODELS, narrow)
    assert search_figures.overlaps(drawn.marks) == []
    lstm = {(m.task, m.kind) for m in drawn.marks if m.model == "lstm"}
    assert {("copy", "first-rung"), ("forecasting", "solved")} <= lstm
    counts = {k: sum(m.kind == k for m in drawn.marks) for k in search_figures.MARKS}
    found = crowded()
    assert counts["budget"] == sum(s["rungs"].get(s["state"].hi) is not None and
                                   s["rungs"][s["state"].hi].budget_bound for s in found) > 0
    assert counts["seed"] == sum(n is not None for s in found for n in s["seeds"].values())


def test_every_mark_of_the_headline_is_named_in_its_legend(monkeypatch):
    kept = drawn(monkeypatch)
    headline = search_figures.headline(crowded(), MODELS)
    kinds = {m.kind for m in headline.marks}
    assert kinds == set(search_figures.MARKS)  # the crowded set draws every kind
    (fig,) = kept
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == headline.legend
    assert {search_figures.MARKS[k][0] for k in kinds} <= set(legend)
    assert any("↗" in text for text in legend) and any("<" in text for text in legend)
    # only what is drawn: a headline without failures has no failure's line
    solved = search_figures.headline([a_search("copy", "lstm", 1024, None, (1024,) * 3)],
                                     ["lstm"])
    assert solved.legend == [search_figures.MARKS[k][0] for k in ("solved", "capped", "seed")]


@pytest.mark.parametrize("narrow, column", [(False, 1150), (True, 366)])
def test_the_headline_is_drawn_at_a_size_its_screen_shows_readably(narrow, column):
    """Shown at most ``column`` CSS pixels wide (the page's column: its 1150 px, a 390 px
    phone's less its padding), the figure keeps its smallest text (13 pt at 120 dpi) at 11
    px or more."""
    png = search_figures.headline(crowded(), MODELS, narrow).png
    width = Image.open(io.BytesIO(png)).size[0]
    smallest = figures.RC["xtick.labelsize"] * figures.RC["figure.dpi"] / 72
    assert min(1.0, column / width) * smallest >= 11

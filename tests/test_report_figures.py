"""The report's figures (report/figures.py): the plotting libraries are named in the run
facts, reference lines differ by dash, models take the colour-blind palette and each its own
marker, and every seed is a point of the accuracy figure."""

import math

from test_report import cell, store_of

from memorybench.report import figures, render_report, summary
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

"""The "Gradient flow" section from hand-written diagnostic rows: no training, no torch.

Each test builds a tiny store of diagnostics as `memorybench diagnose` would write them and
checks one promise of the report: settings are never averaged together, failures and models
that do not apply are listed, the trained metric stands beside chance, colours match the
task figures, and the folder is readable by others.
"""

import hashlib
import json
import math
import stat

import numpy as np
import pytest
from click.testing import CliRunner
from test_report import cell

from memorybench.cli import cli
from memorybench.errors import UserError
from memorybench.report import diagnostics, figures, gradients, render_report
from memorybench.store import Store

from conftest import one_line_exit_2

T = 20


def flow(rho: float) -> dict:
    mean = [float(rho ** d) for d in range(T)]
    return {"mean": mean, "lo": [v / 2 for v in mean], "hi": [v * 2 for v in mean],
            "factor": rho}


def diag_row(model="elman", seed=0, *, settings=None, hidden=128, lr=1e-3, status="ok",
             error=None, metric=0.08, rho=0.5, probe=None, task="adding", length=T,
             steps=200, sequence=None):
    """One stored diagnostic: the config is what changes between settings (and seeds)."""
    settings = {} if settings is None else settings
    config = {"task": task, "task_params": {"solved": 0.8}, "length": length, "model": model,
              "model_type": model, "model_kind": "network",
              "model_params": {"hidden": hidden}, "train": {"steps": steps, "lr": lr},
              "seed": seed, "diagnostics": {"version": 2, "settings": settings}}
    config["key"] = hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()
    n = sequence or length
    probe = probe or [1.0, 0.9, 0.5, 0.1, 0.0]
    result = {} if status != "ok" else {
        "distances": list(range(n)), "sequence_steps": n,
        "probe_distances": [0, 1, 3, 8, n - 1], "metric_name": "accuracy",
        "chance": 0.078, "solved_threshold": 0.8,
        "init": {"gradient": flow(rho), "probe": probe},
        "trained": {"gradient": flow(rho), "probe": probe, "metric": metric, "loss": 0.2,
                    "steps": steps, "curve": [[steps, metric, 0.2]], "solved": metric >= 0.8},
    }
    if status == "ok" and n != T:
        for phase in ("init", "trained"):
            result[phase]["gradient"] = {k: (v + v[-1:] * (n - T) if isinstance(v, list)
                                             else v) for k, v in flow(rho).items()}
    return {"key": config["key"], "task": task, "model": model, "length": length,
            "seed": seed, "steps": steps, "status": status, "error": error,
            "wall_time": 12.5, "finished_at": f"2026-02-0{1 + seed}T10:00:00+00:00",
            "result": result, "config": config,
            "versions": {"memorybench": "0.1.0", "torch": "2.13.0", "git_commit": "abc1234"}}


def make_store(path, rows, cells=()):
    with Store(path) as store:
        for row in rows:
            store.put_diagnostic(row)
        for c in cells:
            store.put(c)
    return path


def readme(out):
    return (out / "README.md").read_text("utf-8")


def gradient_section(text):
    return text.split("## Gradient flow")[1].split("## Run facts")[0]


def test_runs_with_other_settings_are_never_averaged_as_seeds(tmp_path):
    """The audit's case: elman at seed 0 with the spec, with lr=1e8 and with hidden=16."""
    db = make_store(tmp_path / "d.db", [
        diag_row(),
        diag_row(settings={"train.lr": 1e8}, lr=1e8, rho=0.1),
        diag_row(settings={"model.hidden": 16}, hidden=16, rho=0.9),
        diag_row(seed=1),  # a second seed of the spec run: that one is averaged
    ])
    files, context = diagnostics.build(diagnostics.load(db))
    titles = [g["title"] for g in context["groups"]]
    assert len(titles) == 3
    assert any(t.endswith("spec settings") for t in titles)
    assert any("train.lr=1e+08" in t for t in titles)
    assert any("model.hidden=16" in t for t in titles)
    seeds = {g["title"].rsplit(", ", 1)[1]: g["factors"].rows[0][1] for g in context["groups"]}
    assert seeds == {"spec settings": "2", "train.lr=1e+08": "1", "model.hidden=16": "1"}
    factors = {g["title"].rsplit(", ", 1)[1]: g["factors"].rows[0][2] for g in context["groups"]}
    assert factors["model.hidden=16"].startswith("0.9000")
    assert factors["train.lr=1e+08"].startswith("0.1000")
    csv = files["diagnostics/factors.csv"].decode()
    assert "train.lr=1e+08" in csv and "model.hidden=16" in csv
    assert len({f for f in files if f.endswith("gradient-flow.png")}) == 3


def test_one_model_with_two_configs_under_the_same_settings_gets_two_labelled_lines(tmp_path):
    """Same --set, but the config differs (a spec changed between runs): two lines."""
    db = make_store(tmp_path / "d.db", [diag_row(hidden=128), diag_row(hidden=64, rho=0.7),
                                        diag_row("lstm", rho=0.95)])
    _, context = diagnostics.build(diagnostics.load(db))
    (group,) = context["groups"]
    labels = [row[0] for row in group["factors"].rows]
    assert labels == ["elman (hidden=128)", "elman (hidden=64)", "lstm"]
    assert [row[1] for row in group["factors"].rows] == ["1", "1", "1"]


def test_trained_metric_stands_beside_chance_and_at_chance_is_named(tmp_path):
    db = make_store(tmp_path / "d.db", [diag_row("elman", metric=0.076),
                                        diag_row("lstm", metric=0.5),
                                        diag_row("gru", metric=0.95)])
    _, context = diagnostics.build(diagnostics.load(db))
    table = context["groups"][0]["factors"]
    assert table.headers[-3:] == ["accuracy trained", "chance", "state"]
    states = {row[0]: (row[-3], row[-2], row[-1]) for row in table.rows}
    assert states == {"elman": ("0.076", "0.078", "at chance"),
                      "gru": ("0.950", "0.078", "solved"),
                      "lstm": ("0.500", "0.078", "learning")}
    assert "has not learned" in " ".join(table.notes)


def test_learning_state_rule():
    assert diagnostics.learning_state(0.08, 0.078, 0.8) == "at chance"
    assert diagnostics.learning_state(0.078 + 0.1 * 0.722 + 1e-9, 0.078, 0.8) == "learning"
    assert diagnostics.learning_state(0.8, 0.078, 0.8) == "solved"
    assert diagnostics.learning_state(0.5, None, 0.8) == "—"


def test_failed_and_not_applicable_diagnostics_are_listed(tmp_path):
    db = make_store(tmp_path / "d.db", [
        diag_row("elman"),
        diag_row("lstm", seed=3, status="failed",
                 error="FloatingPointError: the training loss is not finite at step 7\nmore"),
        diag_row("attention", status="not applicable", error="no per-step recurrent state"),
    ])
    out = tmp_path / "r"
    render_report(db, out)
    section = gradient_section(readme(out))
    assert "### Diagnostics that failed" in section
    failed = section.split("### Diagnostics that failed")[1]
    row = next(line for line in failed.splitlines() if "lstm" in line)
    assert "| 3 " in row and "FloatingPointError: the training loss is not finite at step 7" in row
    assert "more" not in row  # the first line of the error only
    assert "Not applicable: attention (no per-step recurrent state" in section
    html = (out / "index.html").read_text("utf-8")
    assert 'id="diagnostics-failed"' in html and 'id="diagnostics-not-applicable"' in html
    own = (out / "diagnostics" / "README.md").read_text("utf-8")
    assert "## Diagnostics that failed" in own and "FloatingPointError" in own


def test_a_store_of_failed_diagnostics_only_still_reports_them(tmp_path):
    db = make_store(tmp_path / "d.db", [diag_row(status="failed", error="RuntimeError: boom")])
    out = tmp_path / "r"
    render_report(db, out)
    section = gradient_section(readme(out))
    assert "RuntimeError: boom" in section


def test_diagnostics_only_report_has_run_facts(tmp_path):
    db = make_store(tmp_path / "d.db", [diag_row(), diag_row("lstm", seed=1)])
    out = tmp_path / "r"
    render_report(db, out)
    text = readme(out)
    facts = text.split("## Run facts")[1]
    assert "Diagnostics: 2 (2 ok), 25.0 s of computing" in facts
    assert "2026-02-01T10:00:00+00:00 and 2026-02-02T10:00:00+00:00" in facts
    assert "git commit abc1234" in facts
    assert "| torch " in facts and "2.13.0" in facts
    assert "Figures drawn with matplotlib" in facts
    assert 'id="facts"' in (out / "index.html").read_text("utf-8")


def test_models_keep_their_task_figure_colour_in_the_gradient_figures(tmp_path, monkeypatch):
    """Cells of gru and lstm, diagnostics of lstm only: lstm's colour is the report's,
    not the first of the palette (as it would be if the diagnostics chose their own)."""
    cells = [cell("copy", m, n, 0, 0.5) for m in ("gru", "lstm") for n in (10, 20)]
    db = make_store(tmp_path / "d.db", [diag_row("lstm")], cells)
    seen = {}
    for name in ("score_figure", "flow_figure", "probe_figure"):
        original = getattr(figures, name)

        def spy(data, styles, *args, _name=name, _original=original):
            seen[_name] = dict(styles)
            return _original(data, styles, *args)

        monkeypatch.setattr(figures, name, spy)
    render_report(db, tmp_path / "r")
    expected = figures.style(["gru", "lstm"])["lstm"]
    assert expected != figures.style(["lstm"])["lstm"]
    for name in ("score_figure", "flow_figure", "probe_figure"):
        assert seen[name]["lstm"] == expected, name


def test_diagnose_writes_the_same_colours_as_the_report(tmp_path):
    cells = [cell("copy", m, n, 0, 0.5) for m in ("gru", "lstm") for n in (10, 20)]
    db = make_store(tmp_path / "d.db", [diag_row("lstm")], cells)
    styles = diagnostics.report_styles(db, diagnostics.load(db))
    assert styles["lstm"] == figures.style(["gru", "lstm"])["lstm"]


def test_diagnostics_folder_is_readable_by_others(tmp_path):
    db = make_store(tmp_path / "d.db", [diag_row()])
    diagnostics.write(db, tmp_path / "r")
    mode = stat.S_IMODE((tmp_path / "r" / "diagnostics").stat().st_mode)
    assert mode == 0o755


@pytest.mark.parametrize("make", ["file", "foreign"])
def test_diagnostics_refuse_an_out_that_is_not_a_report_folder(tmp_path, make):
    db = make_store(tmp_path / "d.db", [diag_row()])
    out = tmp_path / "r"
    if make == "file":
        out.write_text("keep")
    else:
        out.mkdir()
        (out / "notes.txt").write_text("keep")
    with pytest.raises(UserError, match="--out"):
        diagnostics.write(db, out)
    assert not (out / "diagnostics").exists() if out.is_dir() else out.read_text() == "keep"


def test_probe_values_below_the_floor_are_marked_and_kept_in_the_table(tmp_path):
    shown, low = figures.clip_low(np.array([0.5, -0.1, -0.86, math.nan]))
    assert shown.tolist()[:3] == [0.5, -0.1, figures.R2_FLOOR]
    assert low.tolist() == [False, False, True, False]
    db = make_store(tmp_path / "d.db", [diag_row(probe=[1.0, 0.5, -0.1, -0.86, None])])
    _, context = diagnostics.build(diagnostics.load(db))
    row = context["groups"][0]["probe_table"].rows[0]
    assert row[1:] == ["1.000", "0.500", "-0.100", "-0.860", "—"]


def test_copy_axis_counts_the_whole_sequence(tmp_path):
    """Copy's sequence is T + 20 steps: the title says so, and the curves span it."""
    db = make_store(tmp_path / "d.db", [diag_row(task="copy", sequence=T + 20)])
    files, context = diagnostics.build(diagnostics.load(db))
    assert f"copy, T={T} ({T + 20} steps per sequence)" in context["groups"][0]["title"]
    assert gradients.sequence_steps(diagnostics.load(db)) == T + 20


def test_report_out_that_cannot_be_a_folder_is_one_line(tmp_path, monkeypatch):
    db = make_store(tmp_path / "d.db", [diag_row()])
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for out in (".", "..", "./", "/", str(work)):
        one_line_exit_2(CliRunner().invoke(cli, ["report", "--db", str(db), "--out", out]),
                        "--out")
    assert list(work.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.db", "work"]


def test_diagnostics_of_tasks_whose_names_slug_alike_get_their_own_figures(tmp_path):
    from test_report_diagnostics import diag_row, make_store

    from memorybench.report import diagnostics as report_diagnostics

    db = make_store(tmp_path / "d.db", [diag_row(task=name) for name in ("a.b", "a-b", "a_b")])
    files, context = report_diagnostics.build(report_diagnostics.load(db))
    figures = [f for f in files if f.endswith(".png")]
    assert len(context["groups"]) == 3 and len(figures) == len(set(figures)) == 6

"""The "Gradient flow" part of a report, from the diagnostics stored by ``memorybench diagnose``.

Reads the store's ``diagnostics`` table (pandas and sqlite, never torch) and builds, per
(task, length, training budget, settings the user changed with ``--set``): the gradient norm
||dLoss/dh_t|| against the distance from the last step on a log scale, at initialization and
after training; the fitted per-step factor of each model beside its trained metric and the
task's chance level; and the memory probe's R² against distance. Diagnostics whose configs
differ in anything but the seed are never averaged together. Failed diagnostics and models
without a per-step state are listed. The files go to ``diagnostics/`` of a report folder,
written the same by ``diagnose`` and by ``report``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from memorybench import results
from memorybench.report import figures, summary
from memorybench.report.tables import DASH, Table, md, number
from memorybench.results import FILE_FORMATS
from memorybench.store import Store

FOLDER = "diagnostics"
PHASES = (("init", "at initialization"), ("trained", "after training"))
SOURCES = ("Hochreiter 1991; Bengio, Simard & Frasconi 1994; Pascanu, Mikolov & Bengio 2013")
# A trained metric less than this share of the way from chance to the solved threshold
# counts as "at chance": the model has not learned the task, so its "trained" gradient is
# that of a model that barely moved from its initialization.
LEARNED = 0.1
R2_FLOOR = -0.25  # the probe figure's lower edge; values below it are marked, not hidden
NOT_APPLICABLE = "not applicable"  # the status ``diagnose`` stores for such a model
NOT_APPLICABLE_TEXT = ("no per-step recurrent state: nothing is carried from step to step, "
                       "so there is no h_t to differentiate or probe")
VARIANT_DASHES = ["-", (0, (6, 2)), (0, (8, 2, 2, 2)), (0, (2, 1.5))]


def load(db: str | Path, tasks=(), models=()) -> pd.DataFrame:
    """Every stored diagnostic (ok, failed and not applicable), ``result`` and ``config``
    parsed, with ``settings`` (what ``--set`` changed, as text) and ``variant`` (a hash of
    the config without its seed: rows of one variant are seeds of one measurement); empty
    for an exported results file or a store without diagnostics."""
    db = Path(db)
    if db.suffix in FILE_FORMATS or not db.exists():
        return pd.DataFrame()
    with Store(db, readonly=True) as store:
        frame = store.diagnostics()
    if tasks:
        frame = frame[frame["task"].isin(tasks)]
    if models:
        frame = frame[frame["model"].isin(models)]
    frame = frame.copy()
    frame["result"] = [summary.parse_json(text) for text in frame["result"]]
    frame["config"] = [summary.parse_json(text) for text in frame["config"]]
    frame["versions"] = [summary.parse_json(text) for text in frame["versions"]]
    frame["settings"] = [settings_text(c) for c in frame["config"]]
    frame["variant"] = [variant(c) for c in frame["config"]]
    return frame.reset_index(drop=True)


def settings_text(config: dict) -> str:
    """'model.hidden=16, train.lr=100000000.0'; 'spec settings' when nothing was changed."""
    diag = config.get("diagnostics", {})
    if "settings" not in diag:
        return f"settings not recorded (diagnostics v{diag.get('version', '?')})"
    return ", ".join(f"{k}={_value(v)}" for k, v in sorted(diag["settings"].items())) or \
        "spec settings"


def _value(value) -> str:
    """A setting as a user types it: 1e+08 rather than 100000000.0."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def variant(config: dict) -> str:
    """A short hash of everything in ``config`` but the seed (and the key derived from it)."""
    rest = {k: v for k, v in config.items() if k not in ("seed", "key")}
    return hashlib.sha1(json.dumps(rest, sort_keys=True).encode()).hexdigest()[:8]


def _flat(config: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in config.items():
        if key in ("seed", "key"):
            continue
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def line_labels(group: pd.DataFrame) -> dict[str, str]:
    """Variant -> its line's label: the model's name, and where one model has several
    variants in a group, the config values that tell them apart."""
    labels = {}
    for model, rows in group.groupby("model", sort=True):
        configs = {v: _flat(c) for v, c in zip(rows["variant"], rows["config"], strict=True)}
        if len(configs) == 1:
            labels[next(iter(configs))] = model
            continue
        keys = sorted({k for c in configs.values() for k in c
                       if len({json.dumps(o.get(k)) for o in configs.values()}) > 1})
        for v, c in sorted(configs.items()):
            differ = ", ".join(f"{k.removeprefix('model_params.').removeprefix('train.')}="
                               f"{_value(c.get(k, DASH))}" for k in keys)
            labels[v] = f"{model} ({differ})"
    return labels


def learning_state(metric, chance, solved) -> str:
    """'solved', 'learning' or 'at chance' (see ``LEARNED``); — when chance is unknown."""
    if metric is None or chance is None or solved is None or metric != metric:
        return DASH
    if metric >= solved:
        return "solved"
    return "at chance" if metric - chance < LEARNED * (solved - chance) else "learning"


def _figure(files: dict, name: str, png: bytes, alt: str) -> dict:
    path = f"{FOLDER}/{name}.png"
    files[path] = png
    return {"path": path, "name": f"{name}.png", "alt": alt,
            "data": "data:image/png;base64," + base64.b64encode(png).decode("ascii")}


def _lines(group: pd.DataFrame):
    """Per line (model, variant) of a group: its label, model, dash pattern and rows."""
    labels = line_labels(group)
    for model, by_model in group.groupby("model", sort=True):
        for i, (v, rows) in enumerate(by_model.groupby("variant", sort=True)):
            yield labels[v], model, VARIANT_DASHES[i % len(VARIANT_DASHES)], rows


def _curves(rows: pd.DataFrame, phase: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Over seeds: the geometric mean of the per-seed geometric means, and the widest
    percentile band; each (N,)."""
    grads = [r[phase]["gradient"] for r in rows["result"]]
    with np.errstate(divide="ignore"):
        logs = np.log([g["mean"] for g in grads])
    mean = np.exp(logs.mean(0))
    return mean, np.min([g["lo"] for g in grads], 0), np.max([g["hi"] for g in grads], 0)


def _steps(group: pd.DataFrame) -> int:
    """Steps per input sequence (N): the task's length T, T + 20 for copy."""
    first = group["result"].iloc[0]
    return int(first.get("sequence_steps", len(first["distances"])))


def flow_figure(group: pd.DataFrame, styles: dict, title: str) -> bytes:
    n = _steps(group)
    with matplotlib.rc_context(figures.RC):
        fig = Figure(figsize=(13, 5.6), layout="constrained")  # room for a 2-line title
        axes = fig.subplots(1, 2, sharey=True)
        for ax, (phase, name) in zip(axes, PHASES, strict=True):
            for label, model, dash, rows in _lines(group):
                colour = styles[model][0]
                mean, lo, hi = _curves(rows, phase)
                d = np.arange(len(mean))
                ax.plot(d, mean, color=colour, linestyle=dash, label=figures.label(label))
                ax.fill_between(d, np.maximum(lo, 1e-300), hi, color=colour, alpha=0.18,
                                linewidth=0)
            ax.set_yscale("log")
            ax.set_xlim(0, n - 1)
            ax.set_xlabel(f"distance d from the last step (of N = {n})")
            ax.set_title(name)
        axes[0].set_ylabel("‖dLoss/dh_t‖,  t = N-1-d")
        fig.suptitle(figures.label(title))
        figures._legend(axes[1])
        return figures._png(fig)


def _probe_means(rows: pd.DataFrame, phase: str) -> np.ndarray:
    """Mean R² over seeds per probed distance; NaN where the target never varies."""
    values = [[math.nan if v is None else v for v in r[phase]["probe"]] for r in rows["result"]]
    return np.asarray(values, dtype=float).mean(0)


def clip_low(r2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R² as drawn (values below ``R2_FLOOR`` raised to it, NaN kept as a gap) and which
    values were raised, to be marked."""
    low = r2 < R2_FLOOR  # False for NaN
    return np.where(low, R2_FLOOR, r2), low


def probe_figure(group: pd.DataFrame, styles: dict, title: str) -> bytes:
    """R² against distance; values below ``R2_FLOOR`` sit on the lower edge as open
    triangles (the table has their values), so the axis never hides them silently."""
    n = _steps(group)
    with matplotlib.rc_context(figures.RC):
        fig = Figure(figsize=(9.5, 5.2))
        ax = fig.subplots()
        clipped = False
        for label, model, dash, rows in _lines(group):
            colour, marker = styles[model][:2]
            d = np.asarray(rows["result"].iloc[0]["probe_distances"]) + 1
            for phase, style in (("trained", {"linestyle": dash, "marker": marker,
                                              "label": figures.label(label)}),
                                 ("init", {"linestyle": ":", "linewidth": 1.5})):
                shown, low = clip_low(_probe_means(rows, phase))
                ax.plot(d, shown, color=colour, **style)
                if low.any():
                    clipped = True
                    ax.plot(d[low], np.full(low.sum(), R2_FLOOR), linestyle="none", marker="v",
                            markersize=11, markerfacecolor="white", color=colour)
        ax.plot([], [], color=figures.GREY, linestyle=":", linewidth=1.5,
                label="at initialization")
        if clipped:
            ax.plot([], [], linestyle="none", marker="v", markerfacecolor="white",
                    color=figures.GREY, label=f"below {R2_FLOOR} (see table)")
        ax.axhline(0.0, color=figures.GREY, linestyle=figures.CHANCE_DASH, linewidth=2,
                   label="predict the mean")
        probed = np.concatenate([r["probe_distances"] for r in group["result"]]) + 1
        if probed.max() >= 10 * probed.min():  # log only where distances span a decade
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_ylim(R2_FLOOR - 0.04, 1.05)
        ax.set_xlabel(f"distance from the last step + 1 (of N = {n})")
        ax.set_ylabel("probe R² (held out)")
        ax.set_title(figures.label(title))
        figures._legend(ax)
        return figures._png(fig)


def _factor(rho) -> str:
    """'0.9621 (halves in 18 steps)': the factor, and the steps for the norm to halve."""
    if rho is None or rho != rho:
        return DASH
    if not 0 < rho < 1:
        return f"{rho:.4f}"
    steps = math.log(0.5) / math.log(rho)
    return f"{rho:.4f} (halves in {steps:,.0f} steps)" if steps >= 10 else \
        f"{rho:.4f} (halves in {steps:.1f} steps)"


def _mean(values) -> float | None:
    return None if any(v is None for v in values) else float(np.mean(values))


def factor_table(group: pd.DataFrame) -> Table:
    rows, first = [], group["result"].iloc[0]
    budget = int(group["steps"].iloc[0])
    for label, _, _, g in _lines(group):
        res = list(g["result"])
        factors = {p: _mean([r[p]["gradient"]["factor"] for r in res]) for p, _ in PHASES}
        metric = float(np.mean([r["trained"]["metric"] for r in res]))
        steps = float(np.mean([r["trained"].get("steps", budget) for r in res]))
        chance, solved = first.get("chance"), first.get("solved_threshold")
        rows.append([label, str(len(res)), _factor(factors["init"]),
                     _factor(factors["trained"]), f"{steps:,.0f}", number(metric),
                     DASH if chance is None else number(chance),
                     learning_state(metric, chance, solved)])
    name = first["metric_name"]
    solved = first.get("solved_threshold")
    notes = [f"Per-step factor ρ: the gradient norm falls (ρ < 1) or grows (ρ > 1) by ρ per "
             "step back, from a least-squares line through log ‖dLoss/dh_t‖ against distance "
             f"(mean over seeds; {SOURCES}); in brackets, the steps for the norm to halve, "
             "ln 0.5 / ln ρ.",
             f"Steps trained: the cell's own protocol for at most {budget:,} steps, stopping "
             f"early once solved; {name} trained: held out, after those steps (mean over "
             "seeds); chance: the memoryless level."
             + ("" if solved is None else
                f" State: solved at {number(solved)} or above; 'at chance' when less than "
                f"{LEARNED:.0%} of the way from chance to solved: such a model has not learned "
                "the task, and its 'trained' factor is that of a barely trained network "
                "(train longer with --steps, or diagnose a shorter --length).")]
    return Table(["model", "seeds", "factor at init", "factor trained", "steps trained",
                  f"{name} trained", "chance", "state"], rows, notes)


def probe_table(group: pd.DataFrame) -> Table:
    distances = group["result"].iloc[0]["probe_distances"]
    rows = []
    for label, _, _, g in _lines(group):
        rows.append([label] + [number(v) for v in _probe_means(g, "trained")])
    return Table(["model / distance"] + [str(d) for d in distances], rows,
                 ["Held-out R² of a linear read-out (ridge, penalty chosen by cross-validation"
                  ") of the task-relevant input at each distance from the last step, read "
                  "from the final state after training, mean over seeds. For adding: the "
                  "marked value, its marker placed at that distance; for other tasks: the "
                  "input at that step, probed only where inputs vary (copy: its symbols, T+10 "
                  "to T+19 steps back; — where a target did not vary). 0: no "
                  "better than predicting the mean; below 0: worse (the figure marks values "
                  f"below {R2_FLOOR} on its lower edge)."])


def problem_table(frame: pd.DataFrame) -> Table:
    """Diagnostics that failed, as the report lists cells that failed."""
    rows = []
    for r in frame[frame["status"] == "failed"].itertuples():
        detail = (r.error or "no error recorded").strip().splitlines()[0][:200]
        rows.append([r.task, str(r.length), str(r.steps), r.settings, r.model, str(r.seed),
                     detail])
    return Table(["task", "length", "steps", "settings", "model", "seed", "error"], rows)


def build(frame: pd.DataFrame, styles: dict | None = None) -> tuple[dict[str, bytes],
                                                                     dict | None]:
    """The figures and ``diagnostics/README.md`` and ``factors.csv`` (files) and the report's
    template context (None without diagnostics). ``styles``: the report's colour of each
    model (``figures.style``), so a model looks the same in every figure."""
    if frame.empty:
        return {}, None
    files: dict[str, bytes] = {}
    styles = styles or figures.style(sorted(frame["model"].unique()))
    ok = frame[frame["status"] == "ok"]
    groups, csv_rows = [], []
    for (task, length, steps, settings), group in ok.groupby(
            ["task", "length", "steps", "settings"], sort=True):
        slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{task}-T{length}-steps{steps}")
        if settings != "spec settings":
            slug += "-" + hashlib.sha1(settings.encode()).hexdigest()[:6]
        n = _steps(group)
        base = (f"{task}, T={length}" + (f" ({n} steps per sequence)" if n != length else "")
                + f", at most {steps} training steps")
        title = f"{base}, {settings}"
        labels = line_labels(group)
        groups.append({
            "title": title, "anchor": f"diagnostics-{slug}",
            "models": ", ".join(labels[v] for v in sorted(labels, key=labels.get)),
            "seeds": ", ".join(str(s) for s in sorted(group["seed"].unique())),
            "flow": _figure(files, f"{slug}-gradient-flow",
                            flow_figure(group, styles,
                                        f"{base}: gradient reaching h_t\n{settings}"),
                            f"Gradient norm against distance from the last step, {title}"),
            "factors": factor_table(group),
            "probe": _figure(files, f"{slug}-memory-probe",
                             probe_figure(group, styles, f"{base}: memory probe\n{settings}"),
                             f"Memory probe R² against distance, {title}"),
            "probe_table": probe_table(group),
        })
        for _, row in group.iterrows():
            res = row["result"]
            csv_rows.append({"task": task, "length": length, "steps": steps,
                             "settings": settings, "model": row["model"],
                             "variant": row["variant"], "seed": row["seed"],
                             "factor_init": res["init"]["gradient"]["factor"],
                             "factor_trained": res["trained"]["gradient"]["factor"],
                             "steps_trained": res["trained"].get("steps"),
                             "metric_name": res["metric_name"],
                             "metric_trained": res["trained"]["metric"],
                             "chance": res.get("chance")})
    skipped = sorted(frame.loc[frame["status"] == NOT_APPLICABLE, "model"].unique())
    context = {"groups": groups, "sources": SOURCES, "failed": problem_table(frame),
               "not_applicable": ", ".join(skipped), "not_applicable_text": NOT_APPLICABLE_TEXT}
    files[f"{FOLDER}/factors.csv"] = pd.DataFrame(
        csv_rows, columns=["task", "length", "steps", "settings", "model", "variant", "seed",
                           "factor_init", "factor_trained", "steps_trained", "metric_name",
                           "metric_trained", "chance"]).to_csv(index=False).encode()
    files[f"{FOLDER}/README.md"] = markdown(context).encode()
    return files, context


def markdown(context: dict) -> str:
    """``diagnostics/README.md``: the section on its own, figures beside it."""
    out = ["# Gradient flow and memory probe", "",
           "The gradient reaching the state h_t, d steps before the output, is a product of d "
           f"step Jacobians, so it shrinks or grows like ρ^d ({md(context['sources'])}).", ""]
    for g in context["groups"]:
        out += [f"## {md(g['title'])}", "", f"Models: {md(g['models'])}. Seeds: {g['seeds']}.",
                "", f"![{md(g['flow']['alt'])}]({g['flow']['name']})", "",
                g["factors"].markdown(), "", *[md(n) + "\n" for n in g["factors"].notes],
                f"![{md(g['probe']['alt'])}]({g['probe']['name']})", "",
                g["probe_table"].markdown(), "",
                *[md(n) + "\n" for n in g["probe_table"].notes]]
    if context["not_applicable"]:
        out += [f"Not applicable: {md(context['not_applicable'])} ({md(NOT_APPLICABLE_TEXT)}).",
                ""]
    out += ["## Diagnostics that failed", ""]
    out += [context["failed"].markdown() if context["failed"].rows else
            "None: every diagnostic finished ok.", ""]
    return "\n".join(out)


def facts(frame: pd.DataFrame) -> dict:
    """Run facts of the diagnostics: versions, commit, dates, time, statuses."""
    versions, commit = summary.version_facts(frame["versions"])
    dates = sorted(d for d in frame["finished_at"] if isinstance(d, str) and d)
    return {"versions": versions, "commit": commit,
            "newest": dates[-1] if dates else "not recorded",
            "oldest": dates[0] if dates else "not recorded",
            "time": summary.clock(float(pd.to_numeric(frame["wall_time"]).fillna(0).sum())),
            "count": len(frame),
            "status_counts": {s: int(n) for s, n in
                              frame["status"].value_counts().sort_index().items()}}


def report_styles(db: str | Path, frame: pd.DataFrame) -> dict:
    """The colours ``memorybench report`` gives the models of store ``db`` (all of its
    cells and diagnostics), so diagnostics written on their own match the report's."""
    cells = summary.normalise(results.load(db)) if Path(db).exists() else pd.DataFrame()
    models = set(frame["model"]) if len(frame) else set()
    if len(cells):
        models |= set(cells["model"])
    return figures.style(sorted(models), summary.baseline_models(cells))


def write(db: str | Path, out: str | Path) -> list[Path]:
    """Write the diagnostics of store ``db`` into ``out/diagnostics/`` (replacing it whole,
    leaving the rest of a report folder as it is); returns the files written."""
    from memorybench.report import _write_atomically, check_out

    out = Path(out)
    check_out(out)
    frame = load(db)
    files, _ = build(frame, report_styles(db, frame))
    _write_atomically(out / FOLDER, {Path(rel).name: data for rel, data in files.items()})
    return [out / rel for rel in sorted(files)]

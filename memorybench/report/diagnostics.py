"""The "Gradient flow" part of a report, from the diagnostics stored by ``memorybench diagnose``.

Reads the store's ``diagnostics`` table (pandas and sqlite, never torch) and builds, per
(task, length, training budget): the gradient norm ||dLoss/dh_t|| against the distance from
the output on a log scale, at initialization and after training; the fitted per-step factor
of each model; and the memory probe's R² against distance. The files go to ``diagnostics/``
of a report folder, written the same by ``diagnose`` and by ``report``.
"""

from __future__ import annotations

import base64
import json
import math
import re
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from memorybench.errors import UserError
from memorybench.report import figures
from memorybench.report.tables import DASH, Table, md, number
from memorybench.results import FILE_FORMATS
from memorybench.store import Store

FOLDER = "diagnostics"
PHASES = (("init", "at initialization"), ("trained", "after training"))
SOURCES = ("Hochreiter 1991; Bengio, Simard & Frasconi 1994; Pascanu, Mikolov & Bengio 2013")


def load(db: str | Path, tasks=(), models=()) -> pd.DataFrame:
    """The store's diagnostics that finished ok, ``result`` parsed; empty for an exported
    results file or a store without diagnostics."""
    db = Path(db)
    if db.suffix in FILE_FORMATS or not db.exists():
        return pd.DataFrame()
    with Store(db, readonly=True) as store:
        frame = store.diagnostics()
    frame = frame[frame["status"] == "ok"]
    if tasks:
        frame = frame[frame["task"].isin(tasks)]
    if models:
        frame = frame[frame["model"].isin(models)]
    frame = frame.copy()
    frame["result"] = [json.loads(text) for text in frame["result"]]
    return frame.reset_index(drop=True)


def _figure(files: dict, name: str, png: bytes, alt: str) -> dict:
    path = f"{FOLDER}/{name}.png"
    files[path] = png
    return {"path": path, "name": f"{name}.png", "alt": alt,
            "data": "data:image/png;base64," + base64.b64encode(png).decode("ascii")}


def _curves(rows: pd.DataFrame, phase: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Over seeds: the geometric mean of the per-seed geometric means, and the widest
    percentile band; each (T,)."""
    grads = [r[phase]["gradient"] for r in rows["result"]]
    with np.errstate(divide="ignore"):
        logs = np.log([g["mean"] for g in grads])
    mean = np.exp(logs.mean(0))
    return mean, np.min([g["lo"] for g in grads], 0), np.max([g["hi"] for g in grads], 0)


def flow_figure(group: pd.DataFrame, styles: dict, title: str) -> bytes:
    with matplotlib.rc_context(figures.RC):
        fig = Figure(figsize=(13, 5.2))
        axes = fig.subplots(1, 2, sharey=True)
        for ax, (phase, name) in zip(axes, PHASES, strict=True):
            for model, rows in group.groupby("model", sort=True):
                mean, lo, hi = _curves(rows, phase)
                d = np.arange(len(mean))
                colour = styles[model][0]
                ax.plot(d, mean, color=colour, label=figures.label(model))
                ax.fill_between(d, np.maximum(lo, 1e-300), hi, color=colour, alpha=0.18,
                                linewidth=0)
            ax.set_yscale("log")
            ax.set_xlabel("distance from the output d = T-1-t (steps)")
            ax.set_title(name)
        axes[0].set_ylabel("‖dLoss/dh_t‖")
        fig.suptitle(figures.label(title))
        figures._legend(axes[1])
        return figures._png(fig)


def probe_figure(group: pd.DataFrame, styles: dict, title: str) -> bytes:
    with matplotlib.rc_context(figures.RC):
        fig = Figure(figsize=(9.5, 5.2))
        ax = fig.subplots()
        for model, rows in group.groupby("model", sort=True):
            d = np.asarray(rows["result"].iloc[0]["probe_distances"])
            colour, marker = styles[model][:2]
            trained = np.mean([r["trained"]["probe"] for r in rows["result"]], 0)
            init = np.mean([r["init"]["probe"] for r in rows["result"]], 0)
            ax.plot(d + 1, trained, color=colour, marker=marker, label=figures.label(model))
            ax.plot(d + 1, init, color=colour, linestyle=":", linewidth=1.5)
        ax.plot([], [], color=figures.GREY, linestyle=":", linewidth=1.5,
                label="at initialization")
        ax.axhline(0.0, color=figures.GREY, linestyle="--", linewidth=2,
                   label="predict the mean")
        ax.set_xscale("log")
        ax.set_ylim(-0.25, 1.05)
        ax.set_xlabel("distance from the output + 1 (steps)")
        ax.set_ylabel("probe R² (held out)")
        ax.set_title(figures.label(title))
        figures._legend(ax)
        return figures._png(fig)


def _factor(value) -> str:
    return DASH if value is None or value != value else f"{value:.4f}"


def factor_table(group: pd.DataFrame) -> Table:
    rows = []
    for model, g in group.groupby("model", sort=True):
        res = list(g["result"])
        factors = {p: [r[p]["gradient"]["factor"] for r in res] for p, _ in PHASES}
        mean = {p: float(np.mean(v)) if None not in v else None for p, v in factors.items()}
        metric = float(np.mean([r["trained"]["metric"] for r in res]))
        rows.append([model, str(len(res)), _factor(mean["init"]), _factor(mean["trained"]),
                     _halving(mean["init"]), _halving(mean["trained"]), number(metric)])
    name = group["result"].iloc[0]["metric_name"]
    return Table(["model", "seeds", "factor at init", "factor trained", "halves every (init)",
                  "halves every (trained)", f"{name} trained"], rows,
                 [f"Per-step factor ρ: the gradient norm falls (ρ < 1) or grows (ρ > 1) by ρ "
                  "per step back, from a least-squares line through log ‖dLoss/dh_t‖ against "
                  f"distance (mean over seeds; {SOURCES}). 'Halves every': steps for the "
                  "norm to halve, ln 0.5 / ln ρ. Last column: held-out metric after the "
                  "diagnostic training budget."])


def _halving(rho) -> str:
    if rho is None or not 0 < rho < 1:
        return DASH
    steps = math.log(0.5) / math.log(rho)
    return f"{steps:,.0f} steps" if steps >= 10 else f"{steps:.1f} steps"


def probe_table(group: pd.DataFrame) -> Table:
    distances = group["result"].iloc[0]["probe_distances"]
    rows = []
    for model, g in group.groupby("model", sort=True):
        r2 = np.mean([r["trained"]["probe"] for r in g["result"]], 0)
        rows.append([model] + [number(v) for v in r2])
    return Table(["model / distance"] + [str(d) for d in distances], rows,
                 ["Held-out R² of a linear (ridge) read-out of the task-relevant input at each "
                  "distance from the final state, after training, mean over seeds. For adding: "
                  "the marked value, its marker placed at that distance. 0: no better than "
                  "predicting the mean."])


def build(frame: pd.DataFrame) -> tuple[dict[str, bytes], dict | None]:
    """The figures and ``diagnostics/README.md`` and ``factors.csv`` (files) and the report's
    template context (None without diagnostics)."""
    if frame.empty:
        return {}, None
    files: dict[str, bytes] = {}
    styles = figures.style(sorted(frame["model"].unique()))
    groups, csv_rows = [], []
    for (task, length, steps), group in frame.groupby(["task", "length", "steps"], sort=True):
        slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{task}-T{length}-steps{steps}")
        title = f"{task}, T={length}, {steps} training steps"
        models = sorted(group["model"].unique())
        groups.append({
            "title": title, "anchor": f"diagnostics-{slug}",
            "models": ", ".join(models),
            "seeds": ", ".join(str(s) for s in sorted(group["seed"].unique())),
            "flow": _figure(files, f"{slug}-gradient-flow",
                            flow_figure(group, styles, f"{title}: gradient reaching h_t"),
                            f"Gradient norm against distance from the output, {title}"),
            "factors": factor_table(group),
            "probe": _figure(files, f"{slug}-memory-probe",
                             probe_figure(group, styles, f"{title}: memory probe"),
                             f"Memory probe R² against distance, {title}"),
            "probe_table": probe_table(group),
        })
        for _, row in group.iterrows():
            res = row["result"]
            csv_rows.append({"task": task, "length": length, "steps": steps,
                             "model": row["model"], "seed": row["seed"],
                             "factor_init": res["init"]["gradient"]["factor"],
                             "factor_trained": res["trained"]["gradient"]["factor"],
                             "metric_name": res["metric_name"],
                             "metric_trained": res["trained"]["metric"]})
    context = {"groups": groups, "sources": SOURCES}
    files[f"{FOLDER}/factors.csv"] = pd.DataFrame(csv_rows).to_csv(index=False).encode()
    files[f"{FOLDER}/README.md"] = markdown(context).encode()
    return files, context


def markdown(context: dict) -> str:
    """``diagnostics/README.md``: the section on its own, figures beside it."""
    out = ["# Gradient flow and memory probe", "",
           "The gradient reaching the state h_t, d steps before the output, is a product of d "
           f"step Jacobians, so it shrinks or grows like ρ^d ({context['sources']}).", ""]
    for g in context["groups"]:
        out += [f"## {md(g['title'])}", "", f"Models: {md(g['models'])}. Seeds: {g['seeds']}.",
                "", f"![{md(g['flow']['alt'])}]({g['flow']['name']})", "",
                g["factors"].markdown(), "", *[n + "\n" for n in g["factors"].notes],
                f"![{md(g['probe']['alt'])}]({g['probe']['name']})", "",
                g["probe_table"].markdown(), "", *[n + "\n" for n in g["probe_table"].notes]]
    return "\n".join(out)


def write(db: str | Path, out: str | Path) -> list[Path]:
    """Write the diagnostics of store ``db`` into ``out/diagnostics/`` (replacing it whole,
    leaving the rest of a report folder as it is); returns the files written."""
    import shutil
    import tempfile

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; expected a report folder")
    files, _ = build(load(db))
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{FOLDER}.", suffix=".tmp", dir=out))
    try:
        for rel, data in sorted(files.items()):
            (tmp / Path(rel).name).write_bytes(data)
        target = out / FOLDER
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [out / rel for rel in sorted(files)]

"""A report reads each horizon search by the protocol its cells recorded: a run of a suite
with its own caps reads the same without `report --suite` as with it (caps, scores, figure
data), results that recorded none fall back to the caps the report is told, and no claim
is judged on a length the run did not train."""

import json
import re

from memorybench.store import results

# Networks that learn nothing in 6 steps ("not learned") and a baseline that solves
# forecasting to the suite's cap, 8, where the task spec's cap is far above it.
TINY_SUITE = """description = "a tiny suite with its own caps"
tasks = ["adding", "forecasting"]
models = ["elman", "lstm", "gru", "ridge-window"]
seeds = [0]

[train]
steps = 6
batch_size = 8
eval_every = 3
eval_size = 32

[model]
hidden = 8

[horizon]
seeds = [0]
lrs = [1e-2]
resolution = 2.0
multiples = [2]
test_size = 32
ceiling = 1
lr_beyond = 0

[horizon.ladders]
adding = { start = 4, cap = 8 }
forecasting = { start = 4, cap = 8 }
"""


def pages(folder) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_runs_report_reads_its_own_protocol_without_the_suite_and_the_suite_agrees(
        invoke, tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY_SUITE)
    search = invoke("horizon", "--suite", "tiny.toml", "--db", "h.db", "--workers", "1")
    assert search.exit_code == 0, search.output
    # one bar over every round: the cells planned (at most), done, and the cost model's
    # bound on the time left; not one bar per round
    assert "cells planned at most" in search.stderr and "(cost model)" in search.stderr
    assert "cell/s" not in search.stderr
    shown = re.findall(r"horizon: (\d+)/(\d+) cells planned at most", search.stderr)
    assert len({int(total) for _, total in shown}) > 1  # the plan falls as searches close
    assert shown[-1][0] == shown[-1][1] == str(len(results.load(tmp_path / "h.db")))
    assert "forecasting × ridge-window: solves T=8 (1/1 seeds); horizon ≥ 8 (capped); " \
           "seeds' horizons 0: ≥ 8" in search.stdout  # a baseline: no learning rate
    stored = results.load(tmp_path / "h.db")
    recorded = [json.loads(m)["search"] for m in stored["metrics"]]
    assert {(r["cap"], r["task_cap"], r["steps"]) for r in recorded} == {(8, 8, 6)}
    assert [2, 4, 8] in [r["ladder"] for r in recorded]  # adding's control, then the ladder

    assert invoke("report", "--db", "h.db", "--out", "plain").exit_code == 0
    assert invoke("report", "--db", "h.db", "--out", "told", "--suite",
                  "tiny.toml").exit_code == 0
    plain, told = pages(tmp_path / "plain"), pages(tmp_path / "told")
    assert plain == told  # the same caps, scores, tables and figures, byte for byte
    readme = plain["README.md"].decode()
    assert "≥ 8 (capped)" in readme and "≥ 8 (open)" not in readme
    assert "## Memory horizon" not in readme  # the searches' notation only
    assert "adding, forecasting 4 to 8; 6 steps of 8 sequences" in readme  # the rule's ladders
    table = readme[readme.index("## Classic results"):].split("\n\n")[2]
    verdicts = {cells[1]: cells[2] for line in table.splitlines()[2:]
                if (cells := [c.strip() for c in line.split("|")])}
    assert verdicts and "does not hold" not in verdicts.values()
    assert verdicts["adding: the Elman RNN's horizon is below 100, the LSTM's and the GRU's "
                    "reach 100"] == "not measured"

    from memorybench.horizon.plan import suite_protocols
    from memorybench.report import searches, summary

    frame = summary.normalise(stored)

    def read(protocols=None):
        return [(s["task"], s["model"], s["cap"], s["bracket"], round(s["score"], 6))
                for s in searches.results(frame, protocols)]

    assert read() == read(suite_protocols("tiny.toml"))
    assert ("forecasting", "ridge-window", 8, "≥ 8 (capped)", 1.0) in read()

    # Results of an earlier memorybench recorded no protocol: read to the task spec's cap
    # the search is open; told the suite, it reads as the run did.
    export = invoke("export", "--db", "h.db", "--format", "jsonl", "--out", "all.jsonl")
    assert export.exit_code == 0, export.output
    old = []
    for line in (tmp_path / "all.jsonl").read_text().splitlines():
        row = json.loads(line)
        row["metrics"].pop("search")
        old.append(json.dumps(row, sort_keys=True))
    (tmp_path / "old.jsonl").write_text("\n".join(old) + "\n")
    assert invoke("report", "--db", "old.jsonl", "--out", "old").exit_code == 0
    assert "≥ 8 (open)" in (tmp_path / "old" / "README.md").read_text()
    assert invoke("report", "--db", "old.jsonl", "--out", "old-told", "--suite",
                  "tiny.toml").exit_code == 0
    assert "≥ 8 (capped)" in (tmp_path / "old-told" / "README.md").read_text()

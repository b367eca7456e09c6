"""The README and docs/ stay true: short, linked to files that exist, and every figure they
quote about results computed here from the committed results files."""

import json
import re
import tomllib
from datetime import datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]

MAIN_JOB = ("python3 -m venv .venv && .venv/bin/pip install torch==2.13.0 -e . && "
            ".venv/bin/memorybench horizon --suite quick && .venv/bin/memorybench report")
TEST_COMMAND = ("python3 -m venv .venv && .venv/bin/pip install tox && .venv/bin/tox && "
                ".venv/bin/tox -e slow")

FENCE = re.compile(r"^```.*?^```", re.S | re.M)
LINK = re.compile(r"\]\(([^)\s]+)\)")  # [text](target) and ![alt](target)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.M)


def text(path: Path) -> str:
    return path.read_text("utf-8")


def prose(markdown: str) -> str:
    """The page without its fenced code blocks, where `](` is code, not a link."""
    return FENCE.sub("", markdown)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(h) for h in HEADING.findall(prose(text(path)))}


def rows(name: str) -> list[dict]:
    """A committed results file: JSON lines, one row per cell."""
    lines = (ROOT / "results" / name).read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def duration(seconds: float) -> str:
    """Hours and minutes as the report writes them: '27 h 29 min', '47 min'."""
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def training_time(cells: list[dict]) -> float:
    """Seconds of training summed over cells: CPU time, as each cell trains on one core."""
    return sum(r["wall_time"] for r in cells)


def wall_clock(cells: list[dict]) -> float:
    """Seconds during which at least one cell was training (cells side by side count once)."""
    spans = sorted((end - timedelta(seconds=r["wall_time"]), end)
                   for r in cells for end in [datetime.fromisoformat(r["finished_at"])])
    total, (start, stop) = 0.0, spans[0]
    for a, b in spans[1:]:
        if a > stop:
            total += (stop - start).total_seconds()
            start, stop = a, b
        else:
            stop = max(stop, b)
    return total + (stop - start).total_seconds()


def test_the_readme_is_a_front_door_of_at_most_200_lines():
    assert len(text(README).splitlines()) <= 200


def test_the_reading_list_names_at_most_six_files():
    section = text(README).split("## Read these files first", 1)[1].split("\n## ", 1)[0]
    items = re.findall(r"^\d+\. ", section, re.M)
    assert 1 <= len(items) <= 6


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_at_a_file_that_exists(page):
    broken = []
    for target in LINK.findall(prose(text(page))):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)}: broken links {broken}"


def test_the_readme_gives_the_two_commands_that_ci_and_tox_run():
    readme = text(README)
    assert MAIN_JOB in readme and TEST_COMMAND in readme
    assert ".venv/bin/tox && .venv/bin/tox -e slow" in text(ROOT / ".ci" / "run")
    tox = text(ROOT / "tox.ini")
    assert "[testenv:slow]" in tox and "deps = torch==2.13.0" in tox  # the pin of the main job


def test_the_main_job_takes_the_time_its_suite_states():
    description = tomllib.loads(text(ROOT / "suites" / "quick.toml"))["description"]
    minutes = re.search(r"about (\d+) minutes on 2 CPU cores", description).group(1)
    assert f"about {minutes} minutes on 2 CPU cores" in text(README)


def test_the_leaderboard_figures_are_those_of_the_committed_results():
    cells = rows("standard-v2.jsonl")
    cpu = training_time(cells)
    networks = [r["params"] for r in cells if r["config"]["model_kind"] == "network"]
    diverged = sum(r["status"] == "diverged" for r in cells)
    tasks = len({r["task"] for r in cells})
    seeds = len({r["seed"] for r in cells})
    headline = [f"{len(cells):,} cells", f"{cpu / 3600:.1f} CPU-hours", f"{tasks} tasks",
                f"{seeds} seeds"]
    for figure in headline:
        assert figure in text(README), figure
    page = " ".join(text(ROOT / "docs" / "leaderboard.md").split())  # lines rejoined
    for figure in [*headline, f"{duration(cpu)} of training", f"{diverged} of which diverged",
                   f"{duration(wall_clock(cells))} of wall clock",
                   f"{min(networks):,} to {max(networks):,}"]:
        assert figure in page, figure


def test_the_leaderboard_v3s_progress_is_that_of_its_committed_cells():
    """The page's progress line quotes results/standard.jsonl, the v3 cells trained so far."""
    cells = rows("standard.jsonl")
    assert cells and all(r["config"]["train"].get("test_size") for r in cells)  # searched
    page = " ".join(text(ROOT / "docs" / "leaderboard.md").split())
    progress = page[page.index("**Progress.**"):]
    assert f"holds {len(cells):,} cells" in progress
    assert f"{training_time(cells) / 3600:.1f} CPU-hours of training" in progress


def test_the_cells_kept_apart_and_the_length_sweep_are_those_committed():
    page = " ".join(text(ROOT / "docs" / "leaderboard.md").split())
    for name in ("standard-horizon-1layer.jsonl", "standard-horizon-recall1500.jsonl"):
        cells = rows(name)
        assert f"{name}), {len(cells)} cells, {duration(training_time(cells))}" in page, name
    assert f"its {len(rows('standard-sweep.jsonl'))} cells are committed" in page


def test_the_gate_suite_is_the_size_of_its_committed_baseline():
    cells = rows("ci-baseline.jsonl")
    seeds = len({r["seed"] for r in cells})
    page = " ".join(text(ROOT / "docs" / "usage.md").split())
    assert f"{seeds} seeds, {len(cells)} cells" in page


def test_contributing_keeps_the_two_recipes():
    page = text(ROOT / "docs" / "contributing.md")
    assert "## A new task" in page and "## A new model" in page

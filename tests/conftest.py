import pytest
from click.testing import CliRunner

from memorybench.cli import cli

# A sweep small enough to train in about a second per cell on one CPU core.
TINY = ["--set", "model.hidden=8", "--steps", "6", "--eval-every", "3", "--batch-size", "8",
        "--set", "train.eval_size=32", "--workers", "1", "--quiet"]


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread, as in training: tiny ops on several threads only add overhead."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def invoke(tmp_path, monkeypatch):
    """Run the real CLI in an empty working directory; returns click's Result."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli, list(args), catch_exceptions=False)

    return run


def one_line_exit_2(result, expected: str = "") -> None:
    """A user error as the CLI must report it: exit 2, one line on stderr naming what is
    wrong (``expected`` is part of it), no traceback."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("memorybench: error: "), result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.output


def pytest_sessionfinish(session, exitstatus):
    """The browser tests alone (``tox -e slow`` runs them last) on a machine without
    Chromium: every one skips, which pytest reports as "no tests ran" (exit 5). That is a
    pass with one line saying so, unless ``MEMORYBENCH_REQUIRE_BROWSER=1`` (CI) asks for the
    browser, where the module itself fails."""
    marks = session.config.getoption("markexpr", "")
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and marks == "browser":
        session.exitstatus = pytest.ExitCode.OK
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("the browser tests were skipped: no Chromium here "
                                "(apt-get install chromium chromium-driver to run them)")


# One tiny cell (adding × elman, length 4) through the real CLI.
RUN = ["run", "--task", "adding", "--model", "elman", "--lengths", "4", *TINY]


@pytest.fixture
def store(invoke, tmp_path):
    """A store of one trained cell in the working folder, and its bytes."""
    assert invoke(*RUN, "--db", "t.db").exit_code == 0
    return tmp_path / "t.db"

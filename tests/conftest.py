import pytest
from click.testing import CliRunner

from memorybench.cli import cli

# A sweep small enough to train in about a second per cell on one CPU core.
TINY = ["--set", "model.hidden=8", "--steps", "6", "--eval-every", "3", "--batch-size", "8",
        "--set", "train.eval_size=32", "--workers", "1", "--quiet"]


@pytest.fixture
def invoke(tmp_path, monkeypatch):
    """Run the real CLI in an empty working directory; returns click's Result."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli, list(args), catch_exceptions=False)

    return run

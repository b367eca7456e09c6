"""The wheel carries the protocol files, so an installed package works without a checkout."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_installed_wheel_ships_the_specs_and_runs(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True)
    wheel = next(tmp_path.glob("memorybench-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for kind in ("tasks", "models", "suites"):
        shipped = {Path(n).name for n in names if n.startswith(f"memorybench/_specs/{kind}/")}
        assert shipped == {p.name for p in (ROOT / kind).glob("*.toml")}, kind

    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(site), str(wheel)], check=True)
    # Run from an empty folder with only the installed copy on the path.
    out = subprocess.run([sys.executable, "-c", "from memorybench.cli import main; main()",
                          "list"], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, check=True)
    assert "adding" in out.stdout and "smoke" in out.stdout
    where = subprocess.run([sys.executable, "-c",
                            "from memorybench.specs import spec_dir; print(spec_dir('tasks'))"],
                           cwd=tmp_path, capture_output=True, text=True,
                           env={"PYTHONPATH": str(site)}, check=True)
    assert where.stdout.strip().startswith(str(site))

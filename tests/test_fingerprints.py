"""A model given in-process is keyed by everything its code is built from: the target and
arguments of a partial, the classes and helpers its code reaches, the packages it wraps and
their installed versions (``memorybench.fingerprints``)."""

import functools
import os
import subprocess
import sys
import textwrap
import types

import pytest
from torch import nn

from memorybench import fingerprints

from conftest import TINY

HELPERS = '''
import torch
from torch import nn

def scale(x):
    return x * {factor}

class Cell(nn.Module):
    def __init__(self, dim: int = 8):
        super().__init__()
        self.gru = nn.GRU(dim, dim, batch_first=True)
    def forward(self, x):
        return scale(self.gru(x)[0])

class Other(Cell):
    pass
'''


def write_package(root, factor=1.0, version="1.0"):
    """``wrapped``: an installed distribution (source and metadata) on ``root``."""
    (root / "wrapped").mkdir(exist_ok=True)
    (root / "wrapped" / "__init__.py").write_text(HELPERS.format(factor=factor))
    info = root / "wrapped-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: wrapped\nVersion: {version}\n")
    (info / "RECORD").write_text("wrapped/__init__.py,,\n")


@pytest.fixture(autouse=True)
def _forget_the_package():
    path = list(sys.path)
    yield
    sys.path[:] = path
    sys.modules.pop("wrapped", None)
    fingerprints._distributions.cache_clear()


def imported(root):
    """``wrapped`` as ``root`` holds it now, imported afresh (``root`` stays on the path,
    where the distribution's metadata is read, until the test ends)."""
    sys.modules.pop("wrapped", None)
    fingerprints._distributions.cache_clear()
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    import wrapped
    return wrapped


def test_a_partial_is_keyed_by_its_target_and_its_arguments(tmp_path):
    write_package(tmp_path)
    wrapped = imported(tmp_path)
    base = fingerprints.fingerprint(functools.partial(wrapped.Cell, dim=8))
    assert base == fingerprints.fingerprint(functools.partial(wrapped.Cell, dim=8))
    assert base != fingerprints.fingerprint(functools.partial(wrapped.Other, dim=8))
    assert base != fingerprints.fingerprint(functools.partial(wrapped.Cell, dim=16))
    # functools itself is the standard library's: not what the model is
    assert not any(m.startswith("functools") for m in fingerprints.walk(
        functools.partial(wrapped.Cell, dim=8)).modules)


def test_a_wrapped_package_counts_by_its_source_and_its_installed_version(tmp_path):
    write_package(tmp_path)
    code = fingerprints.walk(imported(tmp_path).Cell)
    assert set(code.modules) == {"wrapped"} and code.distributions == {"wrapped": "1.0"}
    write_package(tmp_path, version="1.1")
    assert fingerprints.walk(imported(tmp_path).Cell).distributions == {"wrapped": "1.1"}
    fp = {factor: fingerprints.fingerprint(imported(write_package(tmp_path, factor) or
                                                    tmp_path).Cell) for factor in (1.0, 2.0)}
    assert fp[1.0] != fp[2.0]


def test_a_closure_and_the_globals_a_function_reads_are_followed(tmp_path):
    write_package(tmp_path)
    wrapped = imported(tmp_path)
    width = 8

    def factory(hidden: int = 8):
        return nn.Sequential(wrapped.Cell(hidden + width - 8))

    assert "wrapped" in fingerprints.walk(factory).modules  # through the closure's module
    assert "wrapped" in fingerprints.walk(functools.partial(factory, hidden=4)).modules


def test_a_notebook_function_counts_by_the_source_of_what_it_builds(monkeypatch):
    notebook = types.ModuleType("notebook_cells")  # a module with no source file
    monkeypatch.setitem(sys.modules, "notebook_cells", notebook)
    notebook.nn = nn
    exec(textwrap.dedent('''
        class Net(nn.Module):
            def forward(self, x):
                return x
        def make(hidden: int = 8):
            return Net()
    '''), vars(notebook))
    before = fingerprints.walk(notebook.make)
    exec("class Net(nn.Module):\n    def forward(self, x):\n        return 2 * x\n",
         vars(notebook))
    after = fingerprints.walk(notebook.make)
    assert before.modules.keys() == after.modules.keys()
    assert {"notebook_cells:make", "notebook_cells:Net"} <= before.modules.keys()
    assert before.fingerprint() != after.fingerprint()  # the class changed, the factory not


MODEL = '''
from wrapped import Cell

def net(hidden: int = 8):
    return Cell(hidden)
'''


def test_changing_a_wrapped_packages_source_trains_the_cell_again(tmp_path):
    (tmp_path / "site").mkdir()
    write_package(tmp_path / "site")
    (tmp_path / "m.py").write_text(MODEL)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    run = [sys.executable, "-m", "memorybench", "run", "--task", "adding", "--lengths", "4",
           "--model-file", "m.py:net", *TINY, "--db", "s.db"]

    def trained():
        done = subprocess.run(run, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stderr

    assert "1 to train, 0 already stored" in trained()
    assert "0 to train, 1 already stored" in trained()
    write_package(tmp_path / "site", factor=0.5)  # the package changes, m.py does not
    assert "1 to train, 0 already stored" in trained()

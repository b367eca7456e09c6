"""The Python API (``import memorybench as mb``) and ``--model-file``: your own model, as a
Core subclass, a module factory or a file, trained, keyed by its source and refused with one
line when it breaks the forward contract."""

import inspect
import textwrap

import pytest
import torch
from torch import nn

import memorybench as mb
import memorybench.api
import memorybench.report  # noqa: F401  (binds mb.report to the subpackage)
from memorybench import catalog
from memorybench.models import MODELS
from memorybench.models.base import Core

from conftest import TINY, one_line_exit_2

SMALL = {"steps": 6, "eval_every": 3, "batch_size": 8, "eval_size": 32, "progress": False}


class TinyCore(Core):
    """A GRU core written against the forward contract."""

    def __init__(self, d_in: int, hidden: int = 8):
        super().__init__()
        self.rnn = nn.GRU(d_in, hidden, batch_first=True)
        self.out_features = hidden

    def forward(self, h, per_step):
        out, _ = self.rnn(h)  # (B, T, hidden)
        return out if per_step else out[:, -1]


class Mixer(nn.Module):
    """A plain module with its own name for the width."""

    width_arg = "d_model"

    def __init__(self, d_model: int = 8):
        super().__init__()
        self.mix = nn.Linear(d_model, d_model)

    def forward(self, x):
        return torch.tanh(self.mix(x)).cumsum(1)  # (B, T, d_model)


def make_net(hidden: int = 8):
    return nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh())


MODEL_FILE = '''
from torch import nn


class FileNet(nn.Module):
    def __init__(self, hidden: int = 8, layers: int = 1):
        super().__init__()
        self.rnn = nn.GRU(hidden, hidden, num_layers=layers, batch_first=True)

    def forward(self, x):
        return self.rnn(x)[0]  # (B, T, hidden)


def make_pooled(hidden: int = 8):
    return Pooled()


class Pooled(nn.Module):
    def forward(self, x):
        return x.mean(1)  # (B, hidden): not one output per step


def make_broken(hidden: int = 8):
    raise RuntimeError("no such layer")


ANSWER = 42
'''


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(MODEL_FILE)
    return path


def test_the_public_names_are_the_api():
    assert sorted(mb.__all__) == ["data", "horizon", "load", "models", "report", "run", "score",
                                  "tasks"]
    for name in mb.__all__:
        function = getattr(memorybench.api, name)
        assert function.__doc__ and function.__annotations__["return"]
        assert inspect.signature(getattr(mb, name)) == inspect.signature(function)
    tasks, models = mb.tasks(), mb.models()
    assert "copy" in tasks and "lstm" in models and "majority" in models
    assert mb.models.MODELS.get("lstm") and tasks["copy"] == catalog.describe("task", "copy")


def test_run_trains_a_name_a_core_a_module_class_and_a_factory(tmp_path, capsys):
    db = tmp_path / "r.db"
    frame = mb.run(tasks=["copy"], models=["gru", TinyCore, Mixer, make_net], lengths=[4],
                   seeds=[0], db=db, model={}, **SMALL)
    assert sorted(frame["model"]) == ["gru", "make_net", "mixer", "tinycore"]
    assert set(frame["status"]) == {"ok"} and (frame["params"] > 0).all()
    assert len(mb.load(db)) == 4
    # the in-process models were registered for the call only
    assert not {"make_net", "mixer", "tinycore"} & set(MODELS.names())
    assert TinyCore.name == "core"
    capsys.readouterr()
    again = mb.run(tasks=["copy"], models=["gru", TinyCore, Mixer, make_net], lengths=[4],
                   seeds=[0], db=db, **SMALL)
    assert "4 cells: 0 to train, 4 already stored" in capsys.readouterr().err
    assert list(again["finished_at"]) == list(frame["finished_at"])


def test_params_sizes_the_width_a_model_names(tmp_path):
    frame = mb.run(tasks="copy", models=[Mixer], lengths=[4], params=3000, db=tmp_path / "r.db",
                   **SMALL)
    config = frame["config"].map(__import__("json").loads).iloc[0]
    assert set(config["model_params"]) == {"d_model", "target_params"}
    assert abs(frame["params"].iloc[0] - 3000) <= 300
    with pytest.raises(ValueError, match="do not also set model.d_model"):
        mb.run(tasks="copy", models=[Mixer], lengths=[4], params=3000, model={"d_model": 8},
               db=tmp_path / "r.db", **SMALL)


def notebook_class(body: str) -> type:
    """A class as a notebook defines it: no file Python can read its source from."""
    namespace = {"Core": Core, "nn": nn}
    exec(compile(textwrap.dedent(body), "<cell>", "exec"), namespace)
    return namespace["CellCore"]


NOTEBOOK_CORE = """
class CellCore(Core):
    def __init__(self, d_in, hidden=8):
        super().__init__()
        self.proj = nn.Linear(d_in, hidden)
        self.out_features = hidden

    def forward(self, h, per_step):
        out = self.proj(h).cumsum(1) * SCALE  # (B, T, hidden)
        return out if per_step else out[:, -1]
"""


def test_a_changed_model_is_a_new_cell_and_the_same_code_is_the_same():
    first = notebook_class(NOTEBOOK_CORE.replace("SCALE", "0.5"))
    same = notebook_class(NOTEBOOK_CORE.replace("SCALE", "0.5"))
    edited = notebook_class(NOTEBOOK_CORE.replace("SCALE", "0.25"))
    assert catalog.fingerprint(first) == catalog.fingerprint(same)
    assert catalog.fingerprint(first) != catalog.fingerprint(edited)


def test_an_edited_model_file_trains_again(tmp_path, model_file):
    """A new key, so nothing stored is reused: the edited model is a new version of it."""
    db = tmp_path / "r.db"
    spec = f"{model_file}:FileNet"
    first = mb.run(tasks="copy", models=[spec], lengths=[4], db=db, **SMALL)
    model_file.write_text(MODEL_FILE.replace("num_layers=layers", "num_layers=layers, bias=False"))
    second = mb.run(tasks="copy", models=[spec], lengths=[4], db=db, **SMALL)
    assert len(mb.load(db)) == 2 and len(second) == 1
    assert first["key"].iloc[0] != second["key"].iloc[0]
    assert second["params"].iloc[0] < first["params"].iloc[0]


def test_workers_receive_in_process_models(tmp_path, model_file):
    frame = mb.run(tasks="copy", models=[f"{model_file}:FileNet", TinyCore], lengths=[4],
                   seeds=[0, 1], db=tmp_path / "r.db", workers=2, **SMALL)
    assert len(frame) == 4 and set(frame["status"]) == {"ok"}, frame["error"].tolist()


def test_a_model_workers_cannot_receive_is_one_error(tmp_path):
    import threading

    lock = threading.Lock()

    def make_locked(hidden: int = 8):
        with lock:
            return nn.Linear(hidden, hidden)

    with pytest.raises(ValueError, match="make_locked cannot be sent to worker processes"):
        mb.run(tasks="copy", models=[make_locked], lengths=[4], db=tmp_path / "r.db",
               workers=2, **SMALL)
    assert not (tmp_path / "r.db").exists()


@pytest.mark.parametrize("models, error, expected", [
    (["{dir}/nope.py:FileNet"], ValueError, "no such file"),
    (["{file}:FileNe"], ValueError, "has no 'FileNe'; did you mean 'FileNet'?"),
    (["{file}:ANSWER"], TypeError, "model answer (int) is not a model"),
    (["{file}:make_pooled"], ValueError, "maps a (2, 3, 8) batch to (2, 8); expected (2, 3, F)"),
    (["{file}:make_broken"], ValueError, "make_broken() raised RuntimeError: no such layer"),
    ([nn.Linear(4, 4)], TypeError, "an nn.Module instance cannot be trained afresh"),
    ([lambda hidden=8: nn.Linear(hidden, hidden)], TypeError, "(name, model) pair"),
    ([("lstm", make_net)], ValueError, "'lstm' is already a registered model"),
])
def test_bad_models_are_one_error_and_store_nothing(tmp_path, model_file, models, error,
                                                    expected):
    models = [m.format(dir=tmp_path, file=model_file) if isinstance(m, str) else m
              for m in models]
    with pytest.raises(error) as info:
        mb.run(tasks="copy", models=models, lengths=[4], db=tmp_path / "r.db", **SMALL)
    assert expected in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "r.db").exists()
    assert "lstm" in MODELS.names() and MODELS.get("lstm").__name__ == "LSTM"


def test_horizon_returns_a_bracket_per_model(tmp_path):
    frame = mb.horizon(tasks="copy", models=[make_net], seeds=[0], start=4, cap=8, lrs=[1e-2],
                       multiples=[2], test_size=32, db=tmp_path / "h.db", **SMALL)
    row = frame.iloc[0]
    assert (row["task"], row["model"], row["cap"]) == ("copy", "make_net", 8)
    assert row["closed"] and row["bracket"] and row["lengths_trained"]


def test_load_and_report_read_what_run_stored(tmp_path, invoke):
    db = tmp_path / "r.db"
    mb.run(tasks="copy", models=[make_net], lengths=[4, 6], db=db, **SMALL)
    invoke("export", "--db", str(db), "--format", "jsonl", "--out", str(tmp_path / "r.jsonl"))
    assert list(mb.load(tmp_path / "r.jsonl")["model"]) == ["make_net"] * 2
    written = mb.report(db=db, out=tmp_path / "report", formats=["md"])
    assert tmp_path / "report" / "README.md" in written
    with pytest.raises(ValueError, match="no such results file"):
        mb.load(tmp_path / "missing.jsonl")


# --- the command line -----------------------------------------------------------------------
def test_model_file_runs_with_its_arguments_set(invoke, model_file):
    result = invoke("run", "--task", "copy", "--model-file", f"{model_file}:FileNet",
                    "--lengths", "4", "--set", "model.layers=2", *TINY)
    assert result.exit_code == 0, result.output
    frame = mb.load("results/memorybench.db")
    assert list(frame["model"]) == ["filenet"]
    assert '"layers": 2' in frame["config"].iloc[0]


@pytest.mark.parametrize("spec, expected", [
    ("{dir}/nope.py:FileNet", "no such file"),
    ("{file}", "expected PATH.py:NAME"),
    ("{file}:Missing", "has no 'Missing'"),
    ("{file}:ANSWER", "is not a model"),
    ("{file}:make_pooled", "expected (2, 3, F)"),
    ("{file}:make_broken", "raised RuntimeError: no such layer"),
])
def test_bad_model_file_is_one_line_exit_2(invoke, tmp_path, model_file, spec, expected):
    result = invoke("run", "--task", "copy", "--lengths", "4", "--model-file",
                    spec.format(dir=tmp_path, file=model_file), *TINY)
    one_line_exit_2(result, expected)
    assert not (tmp_path / "results").exists()


RECURRENT_FILE = '''
import torch
from torch import nn

from memorybench.models.base import Core


class TanhRNN(Core):
    recurrent_state = True

    def __init__(self, d_in: int, hidden: int = 8):
        super().__init__()
        self.cell = nn.RNNCell(d_in, hidden)
        self.hidden = self.out_features = hidden

    def unroll(self, h):
        state, states = h.new_zeros(h.shape[0], self.hidden), []
        for t in range(h.shape[1]):
            state = self.cell(h[:, t], state)
            states.append((state,))
        return states, torch.stack([s for s, in states], 1)  # (B, T, hidden)

    def forward(self, h, per_step):
        out = self.unroll(h)[1]
        return out if per_step else out[:, -1]
'''


def test_diagnose_measures_a_model_file_like_the_same_built_in(invoke, tmp_path):
    (tmp_path / "rnn.py").write_text(RECURRENT_FILE)
    result = invoke("diagnose", "--task", "adding", "--model", "elman", "--model-file",
                    "rnn.py:TanhRNN", "--length", "4", "--steps", "3", "--set", "model.hidden=8",
                    "--workers", "1")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split()[2:4] for line in result.stdout.splitlines()
            if line.startswith(("elman", "tanhrnn"))}
    # elman is torch's RNN, initialised in the same order as this RNNCell: the same network
    assert rows["tanhrnn"] == rows["elman"]


def test_horizon_and_diagnose_take_a_model_file(invoke, model_file):
    result = invoke("horizon", "--task", "copy", "--model-file", f"{model_file}:FileNet",
                    "--seeds", "0", "--dry-run")
    assert result.exit_code == 0 and "copy × filenet: ladder" in result.output, result.output
    one_line_exit_2(invoke("diagnose", "--task", "adding", "--model-file",
                           f"{model_file}:FileNet", "--length", "4"), "nothing to diagnose")

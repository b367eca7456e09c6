"""Your own model, first class: an alias runs a model under a name of your choosing (the
way past a name already taken), a name the file lacks is answered with what it has (its
imports too), and a module of fixed size trains at its size, the encoder made to its input
width, with ``--params`` refused in one line."""

import json

import pytest
import torch
from torch import nn

import memorybench as mb
from memorybench import catalog, contract, usermodels
from memorybench.errors import UserError
from memorybench.models.base import Core, SequenceModel, count_parameters
from memorybench.tasks.base import TaskIO

from conftest import TINY, one_line_exit_2

SMALL = {"steps": 4, "eval_every": 2, "batch_size": 8, "eval_size": 16, "progress": False}
FAST = ["--steps", "4", "--eval-every", "2", "--batch-size", "8", "--set",
        "train.eval_size=16", "--workers", "1", "--quiet"]  # TINY without model.hidden
IO = TaskIO(inputs="tokens", in_size=5, targets="class", out_size=3, positions="each")

MODEL_FILE = '''
from functools import partial
from textwrap import dedent  # a function of the standard library: no model
from torch import nn
from torch.nn import GRU  # imported: a model candidate all the same

from memorybench.models.base import Core


def mingru(hidden: int = 8):
    return nn.Linear(hidden, hidden)  # (B, T, hidden)


class GruCore(Core):
    def __init__(self, d_in: int, hidden: int = 8):
        super().__init__()
        self.rnn = nn.GRU(d_in, hidden, batch_first=True)
        self.out_features = hidden

    def forward(self, h, per_step):
        out = self.rnn(h)[0]  # (B, T, hidden)
        return out if per_step else out[:, -1]


class FixedNet(nn.Module):
    def __init__(self, layers: int = 1):
        super().__init__()
        self.rnn = nn.GRU(12, 10, num_layers=layers, batch_first=True)

    def forward(self, x):
        return self.rnn(x)[0]  # (B, T, 10)


def make_identity():
    return nn.Identity()  # no layer says its width


small = partial(mingru, hidden=4)
'''


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(MODEL_FILE)
    return path


def stored_source(frame, model: str) -> str:
    return json.loads(frame.set_index("model").loc[model, "metrics"])["model_source"]


# --- (5) aliases ------------------------------------------------------------------------------
def test_a_model_file_runs_under_its_alias_beside_the_name_it_shadows(invoke, model_file):
    result = invoke("run", "--task", "copy", "--lengths", "4", "--model", "mingru",
                    "--model-file", "m.py:mingru=my-mingru", *TINY)
    assert result.exit_code == 0, result.output
    frame = mb.load("results/memorybench.db")
    assert sorted(frame["model"]) == ["mingru", "my-mingru"]
    assert stored_source(frame, "my-mingru").endswith("m.py:mingru")  # the object, not its alias


def test_a_registered_name_is_refused_with_the_alias_to_use(invoke, model_file):
    one_line_exit_2(invoke("run", "--task", "copy", "--lengths", "4", "--model-file",
                           "m.py:mingru", *TINY),
                    "model 'mingru' is already a registered model; expected another name for "
                    "yours, an alias: m.py:mingru=my-mingru")


def make_net(hidden: int = 8):
    return nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh())  # (B, T, hidden)


def test_the_api_takes_an_alias_in_a_string_and_in_a_pair(tmp_path, model_file):
    frame = mb.run(tasks="copy", models=[f"{model_file}:GruCore=gru-core", ("my_net", make_net)],
                   lengths=[4], db=tmp_path / "r.db", **SMALL)
    assert sorted(frame["model"]) == ["gru-core", "my_net"]
    assert stored_source(frame, "gru-core") == f"{model_file.resolve()}:GruCore"


@pytest.mark.parametrize("model, expected", [
    ("{file}:mingru=Mine", "'Mine' is not a model name; expected an alias made of lowercase "
                           "letters, digits, '-' and '_'"),
    ("{file}:mingru=my net", "'my net' is not a model name"),
    ("{file}:mingru=", "'' is not a model name"),
    (("My Net", make_net), "model ('My Net', make_net): 'My Net' is not a model name; expected "
                           "a name made of lowercase letters"),
    (("lstm", make_net), "'lstm' is already a registered model; expected another name for "
                         "yours, e.g. a ('my-lstm', model) pair"),
])
def test_a_name_that_is_no_model_name_or_is_taken_is_one_error(tmp_path, model_file, model,
                                                                 expected):
    model = model.format(file=model_file) if isinstance(model, str) else model
    with pytest.raises(ValueError) as info:
        mb.run(tasks="copy", models=[model], lengths=[4], db=tmp_path / "r.db", **SMALL)
    assert expected in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "r.db").exists()


def test_a_bad_alias_on_the_command_line_is_one_line(invoke, model_file):
    one_line_exit_2(invoke("run", "--task", "copy", "--lengths", "4", "--model-file",
                           "m.py:mingru=Mine", *TINY),
                    "--model-file m.py:mingru=Mine: 'Mine' is not a model name")


def test_a_taken_name_caught_at_registration_names_the_alias_syntax():
    with pytest.raises(UserError, match=r"expected another name for yours \(PATH.py:NAME=ALIAS"):
        with usermodels.registered({"lstm": usermodels.as_core(make_net, "lstm")}):
            pass


def test_a_missing_name_is_answered_with_the_files_models_imported_ones_too(invoke,
                                                                            model_file):
    # the whole list, in order: no Core (memorybench's base) and no dedent (the stdlib's)
    result = invoke("run", "--task", "copy", "--lengths", "4", "--model-file", "m.py:GR", *TINY)
    one_line_exit_2(result, "m.py has no 'GR'; did you mean 'GRU'? expected one of: FixedNet, "
                            "GRU, GruCore, make_identity, mingru, small")


def test_a_long_list_of_candidates_stays_one_line(invoke, tmp_path):
    (tmp_path / "star.py").write_text("from torch.nn import *  # noqa: F403\n")
    result = invoke("run", "--task", "copy", "--lengths", "4", "--model-file", "star.py:Gru",
                    *TINY)
    one_line_exit_2(result, "star.py has no 'Gru'; did you mean 'GRU'? expected one of: ")
    assert result.stderr.rstrip().endswith(" more)")


def test_one_name_twice_on_the_command_line_points_at_aliases(invoke, model_file):
    one_line_exit_2(invoke("run", "--task", "copy", "--lengths", "4", "--model-file",
                           "m.py:FixedNet", "--model-file", "m.py:FixedNet", *FAST),
                    "model name 'fixednet' is given twice; expected each model once (an "
                    "alias, PATH.py:NAME=ALIAS, or a (name, model) pair gives one another name)")


# --- (6) modules of fixed size ------------------------------------------------------------------
class FixedNet(nn.Module):
    """A GRU of fixed width: 12 features in, 10 out."""

    def __init__(self, layers: int = 1):
        super().__init__()
        self.rnn = nn.GRU(12, 10, num_layers=layers, batch_first=True)

    def forward(self, x):
        return self.rnn(x)[0]  # (B, T, 10)


def expected_count(task: str, layers: int = 1) -> int:
    """FixedNet's weights, the encoder to its 12 features and the head from its 10."""
    io = catalog.build_task(task, {}).io
    encoder = io.in_size * 12 + (12 if io.inputs == "reals" else 0)
    return (encoder + sum(p.numel() for p in FixedNet(layers).parameters())
            + 10 * io.out_size + io.out_size)


def test_a_module_of_fixed_size_trains_at_its_own_size(tmp_path):
    frame = mb.run(tasks=["copy", "adding"], models=[FixedNet], lengths=[4], model={"layers": 2},
                   db=tmp_path / "r.db", **SMALL)
    assert set(frame["status"]) == {"ok"}
    assert dict(zip(frame["task"], frame["params"], strict=True)) == {
        "copy": expected_count("copy", 2), "adding": expected_count("adding", 2)}


def test_params_is_refused_for_a_module_of_fixed_size_in_one_line(invoke, tmp_path, model_file):
    count = expected_count("copy")
    one_line_exit_2(invoke("run", "--task", "copy", "--lengths", "4", "--model-file",
                           "m.py:FixedNet", "--params", "3000", *FAST),
                    f"model fixednet has a fixed size ({count:,} parameters); --params cannot "
                    "size it; expected no --params, or a width argument")
    with pytest.raises(ValueError, match=r"model fixednet has a fixed size \("):
        mb.run(tasks="copy", models=[FixedNet], lengths=[4], params=3000,
               db=tmp_path / "r.db", **SMALL)
    assert not (tmp_path / "r.db").exists() and not (tmp_path / "results").exists()


def test_a_module_whose_width_is_not_found_is_one_line(invoke, model_file):
    one_line_exit_2(invoke("run", "--task", "copy", "--lengths", "4", "--model-file",
                           "m.py:make_identity", *FAST),
                    "model make_identity: make_identity has no width argument and its input "
                    "width is not found; expected a parameter named hidden or d_model, a d_in "
                    "= N attribute")


class Declared(nn.Module):
    d_in = 5  # declared: no layer takes the input

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(5))

    def forward(self, x):
        return (x * self.scale).cumsum(1)  # (B, T, 5)


def with_attribute():
    return nn.Sequential(nn.Linear(3, 4))


with_attribute.d_in = 7  # the factory's declaration wins over its first layer


class NormFirst(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(6)
        self.mix = nn.Linear(9, 9)  # defined second: the norm says the width


@pytest.mark.parametrize("factory, width, found", [
    (Declared, 5, "its d_in attribute"),
    (with_attribute, 7, "its d_in attribute"),
    (lambda: nn.Linear(4, 2), 4, "its in_features attribute"),
    (lambda: nn.Sequential(nn.Tanh(), nn.Linear(3, 4)), 3, "its first layer, 1 (Linear)"),
    (lambda: nn.GRU(11, 2), 11, "its first layer, the module (GRU)"),
    (NormFirst, 6, "its first layer, norm (LayerNorm)"),
])
def test_a_module_of_fixed_size_says_or_shows_its_width(factory, width, found):
    assert contract.input_width("m", factory, factory()) == (width, found)


class LaterFirst(nn.Module):
    """Its first layer defined is not the first one run."""

    def __init__(self):
        super().__init__()
        self.out = nn.Linear(4, 4)
        self.inp = nn.Linear(6, 4)

    def forward(self, x):
        return self.out(self.inp(x))  # (B, T, 4)


def test_a_width_read_from_the_wrong_layer_says_where_and_a_declared_one_fixes_it():
    with pytest.raises(UserError, match=r"on a \(2, 3, 4\) batch \(4 features, from its first "
                       r"layer, out \(Linear\); declare d_in = N if not\)"):
        usermodels.resolve([LaterFirst])

    class Declares(LaterFirst):
        d_in = 6

    _, classes = usermodels.resolve([("declares", Declares)])
    assert SequenceModel(IO, classes["declares"]).encode.embedding_dim == 6


def by_task(vocab: int, classes: int, layers: int = 1):
    return nn.Sequential(*[nn.Linear(vocab, vocab) for _ in range(layers)],
                         nn.Linear(vocab, 2 * classes))  # (B, T, vocab) -> (B, T, 2 classes)


def test_a_factory_receives_the_tasks_vocab_and_classes_which_are_not_parameters():
    _, classes = usermodels.resolve([by_task])
    cls = classes["by_task"]
    assert cls.fixed_size and cls.parameters_of() == {"layers": 1}
    model = SequenceModel(IO, cls, layers=2)
    assert model.encode.embedding_dim == 5 and model.core.out_features == 6
    assert count_parameters(model) == 5 * 5 + 2 * 30 + 5 * 6 + 6 + 6 * 3 + 3
    with pytest.raises(UserError, match="unknown parameter 'vocab'"):
        SequenceModel(IO, cls, vocab=3)


def test_embed_cannot_change_a_fixed_width_and_d_in_needs_a_width():
    _, classes = usermodels.resolve([FixedNet])
    with pytest.raises(UserError, match="has a fixed size: embed cannot change the width"):
        SequenceModel(IO, classes["fixednet"], embed=4)

    def takes_d_in(d_in: int = 4):
        return nn.Linear(d_in, d_in)

    with pytest.raises(TypeError, match="takes d_in but has no width argument"):
        usermodels.resolve([takes_d_in])


def test_a_core_keeps_its_width_argument():
    assert not Core.fixed_size and not usermodels.resolve([make_net])[1]["make_net"].fixed_size

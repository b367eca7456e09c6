"""One battery over every model (registered cores and the variants their specs define) on
every task kind: tokens or reals in, one output per sequence or per step. A new model is
checked by these tests without new test code (scikit-learn's ``check_estimator`` idea)."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils import parametrize

from memorybench.catalog import (
    build_task,
    model_class,
    model_names,
    model_spec,
    task_names,
    task_spec,
)
from memorybench.config import TrainConfig
from memorybench.errors import UserError
from memorybench.models.base import Core, SequenceModel, count_parameters
from memorybench.models.checks import first_lookahead
from memorybench.models.sizing import MAX_PARAMS, TOLERANCE, size_for
from memorybench.models.window import FFWindow
from memorybench.sweep import Sweep, load_suite, suite_names
from memorybench.tasks.base import TaskIO
from memorybench.training import make_optimizer

KINDS = {
    "tokens-last": TaskIO(inputs="tokens", in_size=7, targets="class", out_size=5,
                          positions="last"),
    "tokens-each": TaskIO(inputs="tokens", in_size=7, targets="class", out_size=5,
                          positions="each"),
    "reals-last": TaskIO(inputs="reals", in_size=3, targets="real", out_size=2,
                         positions="last"),
    "reals-each": TaskIO(inputs="reals", in_size=3, targets="real", out_size=2,
                         positions="each"),
}
MODELS = [n for n in model_names() if issubclass(model_class(n), Core)]  # not baselines
B, T = 4, 14
TINY = {"hidden": 8}  # divisible by attention's 4 heads


def spec_params(name: str) -> dict:
    return {**model_class(name).parameters_of(), **model_spec(name).get("params", {})}


def build(name: str, io: TaskIO, seed: int = 0, **override) -> SequenceModel:
    torch.manual_seed(seed)
    return SequenceModel(io, model_class(name), **{**spec_params(name), **TINY, **override})


def inputs(io: TaskIO, seed: int = 0, n: int = B, length: int = T) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if io.inputs == "tokens":
        return torch.randint(0, io.in_size, (n, length), generator=g)  # (n, T)
    return torch.randn(n, length, io.in_size, generator=g)  # (n, T, in)


def targets(io: TaskIO, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    shape = (B, T) if io.positions == "each" else (B,)
    if io.targets == "class":
        return torch.randint(0, io.out_size, shape, generator=g)
    return torch.randn(*shape, io.out_size, generator=g)


def loss_of(io: TaskIO, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if io.targets == "real":
        return F.mse_loss(out, y)
    return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))


def spec_train(name: str, lr: float) -> TrainConfig:
    """The model's own training recipe (its spec's optimizer: RMSprop for orthogonal) at
    learning rate ``lr``."""
    return TrainConfig(**{**model_spec(name).get("train", {}), "lr": lr})


def train_steps(model: SequenceModel, io: TaskIO, steps: int,
                cfg: TrainConfig | None = None) -> list[float]:
    """A few optimizer steps (default: Adam, lr 1e-2) on one fixed batch, through the
    project's optimizer (so each core's learning-rate factors apply); returns the losses."""
    opt = make_optimizer(model, cfg or TrainConfig(lr=1e-2))
    x, y = inputs(io), targets(io)
    losses = []
    for _ in range(steps):
        loss = loss_of(io, model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


pytestmark = pytest.mark.usefixtures("one_thread")


every_model = pytest.mark.parametrize("name", MODELS)
every_kind = pytest.mark.parametrize("kind", list(KINDS))


@every_model
def test_builds_from_its_spec(name):
    model = SequenceModel(KINDS["reals-last"], model_class(name), **spec_params(name))
    assert count_parameters(model) > 0
    cls = model_class(name)
    assert cls.width_arg in cls.parameters_of(), "--params sizes the core's `width_arg`"


@every_model
@every_kind
def test_output_shapes(name, kind):
    io = KINDS[kind]
    out = build(name, io)(inputs(io))
    expected = (B, T, io.out_size) if io.positions == "each" else (B, io.out_size)
    assert out.shape == expected
    assert torch.isfinite(out).all()


@every_model
@every_kind
def test_a_few_steps_lower_the_loss(name, kind):
    io = KINDS[kind]
    losses = train_steps(build(name, io), io, steps=5)
    assert losses[-1] < losses[0]


@every_model
@every_kind
def test_same_seed_same_weights_and_outputs(name, kind):
    io = KINDS[kind]
    a, b, c = build(name, io, seed=3), build(name, io, seed=3), build(name, io, seed=4)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb), ka
    x = inputs(io)
    assert torch.equal(a(x), b(x))
    assert not torch.equal(a(x), c(x))


@every_model
@pytest.mark.parametrize("kind", ["tokens-each", "reals-each"])
@pytest.mark.parametrize("mode", ["train", "eval"])  # eval: torch may take fast paths
def test_causal_models_ignore_later_inputs(name, kind, mode):
    io = KINDS[kind]
    model = build(name, io).train(mode == "train")
    x, t = inputs(io), T // 2
    changed = x.clone()
    changed[:, t + 1:] = inputs(io, seed=9)[:, t + 1:]
    with torch.inference_mode(mode == "eval"):
        before, after = model(x), model(changed)
    if model.core.causal:
        torch.testing.assert_close(before[:, :t + 1], after[:, :t + 1], rtol=0, atol=1e-5)
    else:  # a model that says it sees the future must actually do so
        assert not torch.allclose(before[:, :t + 1], after[:, :t + 1])
    assert not torch.allclose(before[:, t + 1:], after[:, t + 1:])


@every_model
def test_the_causality_probe_agrees_with_what_each_model_declares(name):
    """The probe every in-process model meets when it is loaded (``usermodels``) finds
    no look-ahead in a model that declares itself causal, and finds it in one that does
    not (birnn, the encoder)."""
    model = build(name, KINDS["reals-each"])
    d_in = model.encode(inputs(KINDS["reals-each"])).shape[-1]
    assert (first_lookahead(model.core, d_in) is None) == model.core.causal


def test_some_models_declare_that_they_look_ahead():
    assert {"birnn", "encoder"} <= {n for n in MODELS if not build(n, KINDS["reals-each"])
                                    .core.causal}


@every_model
def test_sequence_output_agrees_with_the_per_step_outputs(name):
    """A causal core's end-of-sequence output is its output at the last step; a core that
    sees the whole sequence reads its first and its last step into that output."""
    io = KINDS["reals-last"]
    model = build(name, io)
    core, h = model.core, model.encode(inputs(io)).detach()  # (B, T, d)
    last = core(h, per_step=False)  # (B, F)
    assert last.shape == (B, core.out_features)
    if core.causal:
        torch.testing.assert_close(last, core(h, per_step=True)[:, -1], rtol=0, atol=1e-6)
        return
    for step in (0, T - 1):
        changed = h.clone()
        changed[:, step] += torch.randn(B, h.shape[-1])
        assert not torch.allclose(core(changed, per_step=False), last), step


STACKED = [n for n in MODELS if "layers" in model_class(n).parameters_of()]


@pytest.mark.parametrize("name", STACKED)
def test_stacked_layers(name):
    """``layers`` stacks that many layers: each one past the first adds the same weights,
    the stepwise unroll (where the core has one) carries one state per layer and equals
    the forward pass, and the stack trains."""
    io = KINDS["reals-each"]
    counts = [count_parameters(build(name, io, layers=n)) for n in (1, 2, 3)]
    assert counts[2] - counts[1] == counts[1] - counts[0] > 0
    model = build(name, io, layers=3)
    h = model.encode(inputs(io))  # (B, T, d)
    out = model.core(h, per_step=True)
    assert out.shape == (B, T, model.core.out_features)
    if model.core.recurrent_state:
        states, feats = model.core.unroll(h)
        assert len(states) == T and {len(s) for s in states} == {3}
        torch.testing.assert_close(feats, out, rtol=1e-5, atol=2e-5)
    losses = train_steps(model, io, steps=5, cfg=spec_train(name, lr=1e-2))
    assert losses[-1] < losses[0]


WITH_LR_FACTORS = [n for n in MODELS if type(build(n, KINDS["tokens-each"]).core).lr_factors
                   is not Core.lr_factors]


def test_some_models_set_learning_rate_factors():
    assert WITH_LR_FACTORS  # the test below checks something


@pytest.mark.parametrize("name", WITH_LR_FACTORS)
def test_lr_factors_name_real_parameters(name):
    core = build(name, KINDS["tokens-each"]).core
    names = dict(core.named_parameters())
    assert core.lr_factors()
    for key, factor in core.lr_factors().items():
        assert key in names and factor > 0, key


def orthogonal_weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [getattr(m, attr) for m in model.modules() if parametrize.is_parametrized(m)
            for attr in m.parametrizations]


WITH_ORTHOGONAL = [n for n in MODELS if orthogonal_weights(build(n, KINDS["tokens-each"],
                                                                  hidden=12))]


def test_the_orthogonal_models_are_found():
    assert "orthogonal" in WITH_ORTHOGONAL
    assert spec_train("orthogonal", 1e-3).optimizer == "rmsprop"


@pytest.mark.parametrize("name", WITH_ORTHOGONAL)
def test_orthogonal_matrices_stay_orthogonal_while_training(name):
    """Trained with the model's own recipe (for orthogonal: RMSprop, the orthogonal
    parameters at a tenth of the rate), the matrices move and stay orthogonal."""
    io = KINDS["tokens-each"]
    model = build(name, io, hidden=12)
    assert orthogonal_weights(model)
    before = [w.detach().clone() for w in orthogonal_weights(model)]
    train_steps(model, io, steps=5, cfg=spec_train(name, lr=0.05))
    for w, w0 in zip(orthogonal_weights(model), before, strict=True):
        assert not torch.allclose(w, w0, atol=1e-4), "the orthogonal matrix did not train"
        eye = torch.eye(w.shape[0])
        torch.testing.assert_close(w.T @ w, eye, rtol=0, atol=1e-5)


def test_orthogonal_trains_its_matrix_at_a_tenth_of_the_rate():
    model = build("orthogonal", KINDS["tokens-each"])
    opt = make_optimizer(model, TrainConfig(lr=1e-3, optimizer="rmsprop"))
    rates = sorted(g["lr"] for g in opt.param_groups)
    assert rates == pytest.approx([1e-4, 1e-3])


@pytest.mark.parametrize("name", [n for n in MODELS if issubclass(model_class(n), FFWindow)])
@every_kind
def test_ffwindow_ignores_inputs_older_than_k(name, kind):
    io = KINDS[kind]
    k = 3
    model = build(name, io, k=k)
    x = inputs(io)
    older, inside = x.clone(), x.clone()
    older[:, :T - k] = inputs(io, seed=9)[:, :T - k]  # every step before the last window
    inside[:, T - k] = inputs(io, seed=9)[:, T - k]  # the oldest step of the last window
    base = model(x)
    last = (lambda out: out[:, -1]) if io.positions == "each" else (lambda out: out)
    torch.testing.assert_close(last(model(older)), last(base), rtol=0, atol=0)
    assert not torch.allclose(last(model(inside)), last(base))
    if io.positions == "each":  # a change at step j reaches exactly outputs j .. j+k-1
        j = 2
        moved = x.clone()
        moved[:, j] = inputs(io, seed=9)[:, j]
        reached = (model(moved) - base).abs().amax(dim=(0, 2)) > 0  # (T,)
        assert reached.tolist() == [j <= t < j + k for t in range(T)]


@functools.cache
def task_io(task: str) -> TaskIO:
    return build_task(task, task_spec(task).get("params", {})).io


def check_sized(name: str, io: TaskIO, target: int) -> dict:
    """Size ``name`` for ``target`` and check the promise: the count, that of the model
    built with the chosen values, is within 10%; only ``hidden`` and the core's
    ``sizing_knob`` are chosen, the knob only where no width alone lands."""
    cls = model_class(name)
    chosen, count = size_for(io, cls, spec_params(name), target, name)
    built = SequenceModel(io, cls, **{**spec_params(name), **chosen})
    assert count == count_parameters(built)
    assert abs(count - target) <= TOLERANCE * target, (target, chosen, count)
    assert set(chosen) <= {"hidden", cls.sizing_knob}
    knob = cls.sizing_knob
    if knob is not None and chosen[knob] != spec_params(name)[knob]:
        with pytest.raises(UserError, match="no width"):
            size_for(io, cls, spec_params(name), target, name, fixed=[knob])
    return chosen


@every_model
@every_kind
def test_params_sizes_within_ten_percent(name, kind):
    check_sized(name, KINDS[kind], 6500)


@every_model
@pytest.mark.parametrize("task", task_names())
def test_params_sizes_every_model_on_every_task(name, task):
    """The budgets of the uRNN paper's comparisons (6.5k) and around it, on each
    registered task's own encoder and head (recall: 65 tokens in, 65 classes out)."""
    for target in (2000, 6500, 50000):
        check_sized(name, task_io(task), target)


def test_params_flag_sets_hidden_and_changes_the_cell_key():
    plain = Sweep(tasks=["adding"], models=["lstm"], lengths=[10]).cells()[0]
    sized = Sweep(tasks=["adding"], models=["lstm"], lengths=[10], params=6500).cells()[0]
    assert sized.model_params["target_params"] == 6500
    assert sized.model_params["hidden"] < plain.model_params["hidden"]
    assert sized.key != plain.key


def test_params_stores_the_mlp_ratio_it_chose_for_attention():
    """Recall's 65-token encoder and head make attention's widths 12 and 16 (4 heads)
    5.4k and 8.7k parameters: 6.5k needs another MLP ratio, kept in the cell."""
    cell = Sweep(tasks=["recall"], models=["attention"], lengths=[32], params=6500).cells()[0]
    params = cell.model_params
    assert params["mlp"] != model_spec("attention")["params"]["mlp"]
    net = SequenceModel(task_io("recall"), model_class("attention"), **params)
    assert abs(count_parameters(net) - 6500) <= TOLERANCE * 6500
    spec = Sweep(tasks=["recall"], models=["attention"], lengths=[32], params=6500,
                 model={"mlp": model_spec("attention")["params"]["mlp"]})
    with pytest.raises(UserError, match="no width of model attention"):
        spec.cells()  # a ratio the user set is kept, even where no width then lands


@pytest.mark.parametrize("suite", suite_names())
def test_params_sizes_every_bundled_suite(suite):
    sweep, _ = load_suite(suite)
    sweep.model.pop("hidden", None)  # as `run --suite S --params N` does
    sweep.params = 6500
    networks = {(c.task, c.model): c for c in sweep.cells() if c.model_kind == "network"}
    assert networks
    for (task, model), cell in networks.items():
        io = build_task(task, cell.task_params).io  # the suite's task parameters
        net = SequenceModel(io, model_class(model), **cell.model_params)
        assert abs(count_parameters(net) - 6500) <= TOLERANCE * 6500, (task, model)


@pytest.mark.parametrize("model, target, fixed, expected", [
    ("lstm", 10, {}, "expected a target of at least about"),  # below the smallest lstm
    ("attention", 3000, {"mlp": 4}, "expected a target near"),  # between widths 8 and 12
    ("lstm", MAX_PARAMS + 1, {}, "too large; expected at most"),
])
def test_unreachable_params_is_one_line_error(model, target, fixed, expected):
    with pytest.raises(UserError, match=f"--params {target}: .*{expected}") as err:
        Sweep(tasks=["adding"], models=[model], lengths=[10], params=target,
              model=fixed).cells()
    assert "\n" not in str(err.value)


def test_params_cli_sizes_attention_on_recall(invoke):
    result = invoke("run", "--task", "recall", "--model", "attention", "--params", "6500",
                    "--dry-run")
    assert result.exit_code == 0, result.output


def test_params_flag_sizes_every_stored_cell(invoke):
    from memorybench.store import Store

    result = invoke("run", "--task", "adding", "--model", "lstm", "--model", "attention",
                    "--params", "6500", "--lengths", "4", "--steps", "2", "--eval-every", "2",
                    "--batch-size", "4", "--set", "train.eval_size=8", "--workers", "1",
                    "--quiet")
    assert result.exit_code == 0, result.output
    with Store("results/memorybench.db", readonly=True) as store:
        frame = store.frame()
    assert len(frame) == 2
    assert all(abs(n - 6500) <= 650 for n in frame["params"])
    assert all(str(n) in result.stdout for n in frame["params"])  # shown in the summary


"""One battery over every model (registered cores and the variants their specs define) on
every task kind: tokens or reals in, one output per sequence or per step. A new model is
checked by these tests without new test code (scikit-learn's ``check_estimator`` idea)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils import parametrize

from memorybench.config import Sweep, TrainConfig, model_class, model_names, model_spec
from memorybench.errors import UserError
from memorybench.models.base import Core, SequenceModel, count_parameters
from memorybench.models.sizing import TOLERANCE, width_for
from memorybench.models.window import FFWindow
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


def train_steps(model: SequenceModel, io: TaskIO, steps: int, lr: float = 1e-2) -> list[float]:
    """A few Adam steps on one fixed batch, through the project's optimizer (so each
    core's learning-rate factors apply); returns the losses."""
    opt = make_optimizer(model, TrainConfig(lr=lr))
    x, y = inputs(io), targets(io)
    losses = []
    for _ in range(steps):
        loss = loss_of(io, model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread, as in training: tiny ops on several threads only add overhead."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


every_model = pytest.mark.parametrize("name", MODELS)
every_kind = pytest.mark.parametrize("kind", list(KINDS))


@every_model
def test_builds_from_its_spec(name):
    model = SequenceModel(KINDS["reals-last"], model_class(name), **spec_params(name))
    assert count_parameters(model) > 0
    assert "hidden" in model_class(name).parameters_of(), "--params sizes the `hidden` width"


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
def test_lr_factors_name_real_parameters(name):
    core = build(name, KINDS["tokens-each"]).core
    names = dict(core.named_parameters())
    for key, factor in core.lr_factors().items():
        assert key in names and factor > 0, key


def orthogonal_weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [getattr(m, attr) for m in model.modules() if parametrize.is_parametrized(m)
            for attr in m.parametrizations]


@every_model
def test_orthogonal_matrices_stay_orthogonal_while_training(name):
    io = KINDS["tokens-each"]
    model = build(name, io, hidden=12)
    if name == "orthogonal":
        assert orthogonal_weights(model)
    train_steps(model, io, steps=5, lr=0.05)
    for w in orthogonal_weights(model):
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


@every_model
@pytest.mark.parametrize("kind", ["tokens-each", "reals-last"])
def test_params_sizes_within_ten_percent(name, kind):
    io, target = KINDS[kind], 6500
    hidden, count = width_for(io, model_class(name), spec_params(name), target, name)
    built = SequenceModel(io, model_class(name), **{**spec_params(name), "hidden": hidden})
    assert count == count_parameters(built)
    assert abs(count - target) <= TOLERANCE * target


def test_params_flag_sets_hidden_and_changes_the_cell_key():
    plain = Sweep(tasks=["adding"], models=["lstm"], lengths=[10]).cells()[0]
    sized = Sweep(tasks=["adding"], models=["lstm"], lengths=[10], params=6500).cells()[0]
    assert sized["model_params"]["target_params"] == 6500
    assert sized["model_params"]["hidden"] < plain["model_params"]["hidden"]
    assert sized["key"] != plain["key"]


@pytest.mark.parametrize("model, target, expected", [
    ("lstm", 10, "expected a target of at least about"),  # smaller than the smallest lstm
    ("attention", 3000, "expected a target near"),  # between widths 8 and 12 (4 heads)
])
def test_unreachable_params_is_one_line_error(model, target, expected):
    with pytest.raises(UserError, match=f"--params {target}: .*{expected}") as err:
        Sweep(tasks=["adding"], models=[model], lengths=[10], params=target).cells()
    assert "\n" not in str(err.value)


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


def test_speed_benchmark_runs():
    from benchmarks.model_speed import steps_per_second

    n, rate = steps_per_second("copy", "lstm", length=5, batch=4, seconds=0.0, params=None)
    assert n > 0 and rate > 0

"""The modern recurrent cores (minGRU, minLSTM, LRU, S4D, Mamba, RetNet, mLSTM): their
parallel training form is the recurrence it stands for, it stays finite at long length, and
every registered core states how many floats it carries from step to step."""

from __future__ import annotations

import math

import pytest
import torch

from memorybench.catalog import model_class, model_names, model_spec
from memorybench.models.base import Core
from memorybench.models.scan import Stacked, linear_scan
from memorybench.training import TrainConfig, make_optimizer

NETWORKS = [n for n in model_names() if issubclass(model_class(n), Core)]
# every core with a parallel form and a step-by-step one (variants in models/ included)
MODERN = [n for n in NETWORKS if hasattr(model_class(n), "forward_recurrent")]
LENGTHS = (1, 2, 7, 33, 100)  # length 1, non-powers of two, past one scan chunk
D = 8


pytestmark = pytest.mark.usefixtures("one_thread")


def build(name: str, **override) -> Core:
    torch.manual_seed(0)
    params = {**model_spec(name).get("params", {}), "hidden": D, **override}
    params.pop("embed", None)  # the encoder's width, not the core's
    if "heads" in params:
        params["heads"] = 2  # a width of 8 splits into 2 heads
    return model_class(name)(d_in=D, **params)


def test_the_modern_models_are_registered():
    assert {"mingru", "minlstm", "lru", "s4d", "mamba", "retnet", "mlstm"} <= set(MODERN)


@pytest.mark.parametrize("name", MODERN)
def test_parallel_form_equals_the_step_loop(name):
    """``forward`` (scan, FFT or chunks) and ``forward_recurrent`` (one step at a time)
    give the same outputs, two layers deep, at every length."""
    assert MODERN
    core = build(name, layers=2)
    g = torch.Generator().manual_seed(1)
    for T in LENGTHS:
        h = torch.randn(3, T, D, generator=g)  # (B, T, d)
        parallel = core(h, per_step=True)  # (B, T, F)
        torch.testing.assert_close(parallel, core.forward_recurrent(h), rtol=1e-4, atol=1e-5,
                                   msg=f"{name} at T={T}")
        torch.testing.assert_close(core(h, per_step=False), parallel[:, -1])


@pytest.mark.parametrize("name", MODERN)
def test_stable_at_length_4096(name):
    """Forward and backward at T=4096 in float32 give finite outputs and gradients."""
    core = build(name)
    h = torch.randn(2, 4096, D, requires_grad=True)  # (B, T, d)
    out = core(h, per_step=True)  # (B, T, F)
    assert torch.isfinite(out).all()
    out[:, -1].pow(2).sum().backward()  # from the last step back through all 4096
    assert torch.isfinite(h.grad).all() and h.grad[:, 0].abs().sum() >= 0
    for pname, p in core.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), pname


@pytest.mark.parametrize("name", NETWORKS)
def test_state_size_is_none_or_a_positive_int(name):
    assert NETWORKS
    size = build(name).state_size()
    assert size is None or (isinstance(size, int) and not isinstance(size, bool) and size > 0)


@pytest.mark.parametrize("name, expected", [
    ("lstm", 2 * 2 * D),  # h and c, two layers
    ("gru", 2 * D),
    ("birnn", 2 * 2 * 2 * D),  # two directions of h and c
    ("orthogonal", 2 * D),
    ("ffwindow", 10 * D),  # the window: k inputs of width d
    ("attention", None),
    ("lru", 2 * 2 * D),  # complex entries count 2
    ("mamba", 2 * (2 * D * 16 + 2 * D * 3)),  # (E, N) state and the conv's last 3 inputs
    ("retnet", 2 * 2 * (D // 2) ** 2),  # a (d, d) matrix per head
    ("mlstm", 2 * 2 * ((D // 2) ** 2 + D // 2 + 1)),  # per head: C (d, d), n (d), m
])
def test_state_size_counts_every_carried_float(name, expected):
    core = build(name, layers=2, **({"k": 10} if name == "ffwindow" else {}))
    assert core.state_size() == expected


@pytest.mark.parametrize("name", [n for n in MODERN if issubclass(model_class(n), Stacked)])
def test_unroll_exposes_the_whole_state(name):
    """The states ``unroll`` returns are what is carried: their widths add up to
    ``state_size``, and the gradient reaches them from a later step's output."""
    core = build(name, layers=2)
    states, feats = core.unroll(torch.randn(2, 5, D))
    assert sum(s.shape[-1] for s in states[0]) == core.state_size()
    grads = torch.autograd.grad(feats[:, -1].sum(), list(states[1]), allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_linear_scan_matches_a_loop_even_when_decay_underflows():
    g = torch.Generator().manual_seed(0)
    for T, chunk in [(1, None), (5, 2), (64, None), (101, 7)]:
        a = torch.rand(2, T, 3, generator=g)  # (B, T, C)
        a[:, ::3] = 1e-30  # products of such decays underflow to 0
        b = torch.randn(2, T, 3, generator=g, dtype=torch.complex64)
        h, expected = torch.zeros(2, 3, dtype=b.dtype), []
        for t in range(T):
            h = a[:, t] * h + b[:, t]
            expected.append(h)
        out = linear_scan(a.to(b.dtype), b, chunk)
        torch.testing.assert_close(out, torch.stack(expected, 1), rtol=1e-5, atol=1e-6)


def test_lru_starts_on_its_ring_and_trains_the_recurrence_at_half_rate():
    """Orvieto et al. 2023: |lambda| uniform in [r_min, r_max]; gamma = sqrt(1 - |lambda|^2);
    nu, theta, gamma at 0.5 x lr."""
    core = build("lru", hidden=64, r_min=0.5, r_max=0.6)
    block = core.blocks[0]
    radius = torch.exp(-torch.exp(block.nu_log))
    assert radius.min() >= 0.5 - 1e-6 and radius.max() <= 0.6 + 1e-6
    torch.testing.assert_close(torch.exp(block.gamma_log), torch.sqrt(1 - radius ** 2))
    model = torch.nn.Module()
    model.core = core
    rates = {g["lr"] for g in make_optimizer(model, TrainConfig(lr=1e-3)).param_groups}
    assert rates == {1e-3, 5e-4}


def test_mamba_and_s4d_start_from_their_papers_inits():
    """Mamba: A = -(n + 1) (S4D-Real), softplus(bias) in [dt_min, dt_max]; S4D: A_n =
    -1/2 + i pi n (S4D-Lin), exp(log_dt) in [dt_min, dt_max]."""
    mamba = build("mamba").blocks[0]
    torch.testing.assert_close(-torch.exp(mamba.A_log[0]), -torch.arange(1.0, 17.0))
    dt = torch.nn.functional.softplus(mamba.dt_proj.bias)
    assert dt.min() >= 1e-3 * (1 - 1e-4) and dt.max() <= 0.1 * (1 + 1e-4)
    s4d = build("s4d").blocks[0]
    torch.testing.assert_close(-torch.exp(s4d.A_re_log), torch.full_like(s4d.A_im, -0.5))
    torch.testing.assert_close(s4d.A_im[0], math.pi * torch.arange(32.0))
    assert torch.exp(s4d.log_dt).min() >= 1e-3 * (1 - 1e-5)


@pytest.mark.parametrize("name", MODERN)
def test_parallel_form_has_the_step_loops_gradients(name):
    """The parallel form's backward (hand-written for some scans) gives the step loop's
    gradients, for the inputs and every parameter, across chunk boundaries (in float64, so
    that only a wrong gradient can tell them apart)."""
    core = build(name, layers=2).double()
    g = torch.Generator().manual_seed(2)
    h = torch.randn(2, 37, D, generator=g, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(2, 37, core.out_features, generator=g, dtype=torch.float64)
    params = [h, *core.parameters()]
    parallel = torch.autograd.grad((core(h, per_step=True) * weights).sum(), params,
                                   allow_unused=True)
    loop = torch.autograd.grad((core.forward_recurrent(h) * weights).sum(), params,
                               allow_unused=True)
    for (pname, _), a, b in zip([("input", h), *core.named_parameters()], parallel, loop,
                                strict=True):
        if a is None or b is None:
            assert a is None and b is None, f"{name}: {pname}"
            continue
        torch.testing.assert_close(a, b, msg=f"{name}: {pname}")


@pytest.mark.parametrize("causal", [True, False])
def test_attention_computes_what_torchs_multihead_module_computes_with_a_mask(causal):
    from torch import nn

    from memorybench.models.attention import Block

    torch.manual_seed(0)
    block, x = Block(12, 3, 2), torch.randn(2, 7, 12)
    mask = nn.Transformer.generate_square_subsequent_mask(7) if causal else None
    a = block.ln1(x)
    attended, _ = block.attn(a, a, a, attn_mask=mask, need_weights=False, is_causal=causal)
    x2 = x + attended
    expected = x2 + block.mlp(block.ln2(x2))
    torch.testing.assert_close(block(x, causal), expected, atol=1e-6, rtol=1e-6)

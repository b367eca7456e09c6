"""The built-in modern models against public implementations of the same models, as oracles:
weights mapped across, the same outputs to float tolerance (the ``references`` extra,
``pip install -e ".[references]"``; ``tox -e slow`` runs them).

A reference core is a copy of the built-in core whose blocks are the reference's layers,
the built-in's weights copied into them; both run in float64 on the same input, and every
step's features, and their gradient with respect to the input, must agree. Where a reference
layer covers less of the block than the built-in's (no GLU after the LRU, no output gate
after the mLSTM cell), the built-in's own modules finish the block on both sides, so what is
under test is the reference's part. Where the parameterizations differ, the weights are
mapped to the same function (a diagonal D as a full matrix; S4D's channels as S5's
block-diagonal B and C), or the inputs are kept where the two agree (minGRU-pytorch's
positive candidate g). docs/your-model.md, "The built-ins against public implementations",
lists each comparison and each difference.
"""

from __future__ import annotations

import copy
import functools
import math
import re
import tomllib
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from memorybench.catalog import model_class, model_names
from memorybench.models.base import Core

pytestmark = pytest.mark.usefixtures("one_thread")

# model -> (PyPI package, what its reference covers of the built-in's block)
ORACLES = {
    "mingru": ("minGRU-pytorch", "the minGRU layer (gates, log-space scan) where g(x) = x + 1/2"),
    "minlstm": ("minGRU-pytorch", "the minLSTM layer (normalized gates, log-space scan) where "
                "g(x) = x + 1/2"),
    "lru": ("lru-pytorch", "the LRU layer (recurrence, C, D); GELU and GLU are ours"),
    "s4d": ("s5-pytorch", "S5's SSM with block-diagonal B and C, which is S4D's zero-order-hold "
            "SSM; GELU and GLU are ours"),
    "mamba": ("mambapy", "the Mamba block (projections, convolution, S6 scan, gate)"),
    "retnet": ("yet-another-retnet", "multi-scale retention without xPos, at 5 heads (where "
               "its decays are the paper's)"),
    "mlstm": ("xlstm", "the mLSTM cell (gates, parallel stabilized form, head norm); q, k, v "
              "and the output gate are ours"),
}
# modern models without a CPU reference on PyPI -> why (none at present)
NO_ORACLE: dict[str, str] = {}

ROOT = Path(__file__).resolve().parents[1]
D = 8  # the input width of every core below
# every core with a parallel and a step-by-step form, as tests/test_models_modern.py finds them
MODERN = sorted(n for n in model_names() if issubclass(model_class(n), Core)
                and hasattr(model_class(n), "forward_recurrent"))


def test_every_modern_model_has_an_oracle_or_says_why_not():
    """A new modern model fails here until it is listed: with its reference, or the reason
    it has none."""
    assert ORACLES, "at least one built-in has a public implementation to check against"
    assert not set(ORACLES) & set(NO_ORACLE)
    assert sorted({**ORACLES, **NO_ORACLE}) == MODERN
    assert all(NO_ORACLE.values())


def test_the_references_extra_and_the_docs_name_every_reference():
    """``tox -e slow`` installs every package these tests use, and the docs' table names it."""
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"][
        "optional-dependencies"]["references"]
    installed = {re.split(r"[<>=~!\[ ]", r, maxsplit=1)[0].lower() for r in extra}
    page = (ROOT / "docs" / "your-model.md").read_text("utf-8")
    table = page[page.index("## The built-ins against public implementations"):]
    for model, (package, _) in ORACLES.items():
        assert package.lower() in installed, package
        assert f"| {model} | {package} " in table, model


@pytest.fixture
def float64():
    """Both sides in float64 (some references make tensors at the default dtype)."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(default)


def reference(model: str, module: str):
    """``module`` of ``model``'s reference package, or a skip that names the extra."""
    package = ORACLES[model][0]
    return pytest.importorskip(module, reason=f"{package}: pip install -e '.[references]'")


def parameter(t: torch.Tensor) -> nn.Parameter:
    return nn.Parameter(t.detach().clone())


def built_in(model: str, keep: tuple[str, ...] = (), **params) -> Core:
    """The built-in core (two layers) with every parameter moved off its init (a bias
    that starts at 0 would hide one the mapping forgot), except those named in ``keep``."""
    torch.manual_seed(0)
    # .double(): S4D makes its A_im float32 whatever the default dtype
    core = model_class(model)(d_in=D, layers=2, **params).double()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in core.named_parameters():
            if not any(k in name for k in keep):
                p.add_(0.3 * torch.randn(p.shape, generator=g))
    return core


def with_blocks(core: Core, block) -> Core:
    """A copy of ``core`` whose blocks are ``block(ours)`` for each of its blocks."""
    other = copy.deepcopy(core)
    with torch.no_grad():
        other.blocks = nn.ModuleList(block(b) for b in core.blocks)
    return other


def assert_same(ours, theirs, x: torch.Tensor, atol: float) -> None:
    """The same outputs of ``ours(x)`` and ``theirs(x)``, and the same gradient of a random
    projection of them with respect to ``x`` (through the built-in's hand-written backward
    passes on one side, autograd on the other)."""
    outputs, grads = [], []
    for f in (ours, theirs):
        x_ = x.clone().requires_grad_()
        y = f(x_)
        if not outputs:
            w = torch.randn(y.shape, generator=torch.Generator().manual_seed(3))
        (y * w).sum().backward()
        outputs.append(y.detach())
        grads.append(x_.grad)
    # the largest differences, which docs/your-model.md quotes (pytest -rP shows them)
    print(f"largest difference: output {(outputs[1] - outputs[0]).abs().max():.1e}, "
          f"gradient {(grads[1] - grads[0]).abs().max():.1e}")
    torch.testing.assert_close(outputs[1], outputs[0], rtol=0, atol=atol)
    torch.testing.assert_close(grads[1], grads[0], rtol=0, atol=atol)


def assert_same_features(ours: Core, theirs: Core, length: int, atol: float) -> None:
    """``assert_same`` for two cores' per-step features of a (3, length, D) input."""
    h = torch.randn(3, length, D, generator=torch.Generator().manual_seed(2))  # (B, T, d)
    assert_same(lambda x: ours(x, per_step=True), lambda x: theirs(x, per_step=True), h, atol)


class Wrapped(nn.Module):
    """A reference layer as a block: ``forward(u)`` is ``call(u)``, which runs ``layer``
    (and, where it covers less than the block, the built-in block's own modules)."""

    def __init__(self, layer: nn.Module, call):
        super().__init__()
        self.layer, self.call = layer, call

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.call(u)


# minGRU-pytorch computes the paper's log-space variant (its appendix B.3): h~ = g(W_h x),
# g(y) = y + 1/2 for y >= 0 and sigmoid(y) below, with no biases. Where W_h x >= 0 that is
# the built-in's linear h~ with a bias of 1/2: on inputs x >= 0 with W_h >= 0 the cells agree.

@pytest.mark.slow
@pytest.mark.parametrize("model, layer", [("mingru", "minGRU"), ("minlstm", "minLSTM")])
def test_min_rnns_match_min_gru_pytorch_where_its_g_is_affine(float64, model, layer):
    cell = built_in(model, hidden=D).blocks[0]
    parts = cell.gates.out_features // D  # ours: [z | h~], [f | i | h~]
    theirs = getattr(reference(model, f"minGRU_pytorch.{layer}"), layer)(D)  # no out proj
    with torch.no_grad():
        w = cell.gates.weight.view(parts, D, D)  # (parts, H, H)
        w[-1].abs_()  # W_h >= 0
        cell.gates.bias.zero_()
        cell.gates.bias[-D:] = 0.5
        linear = theirs.to_hidden_and_gate if parts == 2 else theirs.to_hidden_and_f_i_gate
        linear.weight = parameter(w[[-1, *range(parts - 1)]].flatten(0, 1))  # [h~ | gates]
    u = torch.rand(3, 33, D, generator=torch.Generator().manual_seed(2))  # (B, T, H) >= 0
    assert_same(cell, theirs, u, atol=1e-10)


def _lru_layer(block: nn.Module) -> nn.Module:
    """lru-pytorch's LRU with the block's weights; its D is a full matrix, ours diagonal."""
    from LRU_pytorch import LRU

    N, H = block.B.shape[1:]
    layer = LRU(H, H, N)
    for name in ("nu_log", "theta_log", "gamma_log"):
        setattr(layer, name, parameter(getattr(block, name)))
    layer.B = parameter(torch.complex(block.B[0], block.B[1]))  # (N, H)
    layer.C = parameter(torch.complex(block.C[0], block.C[1]))  # (H, N)
    layer.D = parameter(torch.diag(block.D))  # (H, H)
    return Wrapped(layer, lambda u: block.out(F.gelu(layer(u))))


@pytest.mark.slow
def test_lru_matches_lru_pytorch(float64):
    reference("lru", "LRU_pytorch")
    ours = built_in("lru", hidden=D, state=6)
    assert_same_features(ours, with_blocks(ours, _lru_layer), length=17, atol=1e-10)


def _s5_layer(block: nn.Module) -> nn.Module:
    """s5-pytorch's S5 as S4D: P = H N/2 states, state (h, n) driven by channel h alone
    (B = 1) and read by it alone (C = 2 C_hn, the conjugate modes' share), step Delta_h."""
    from s5.s5_model import S5

    H, modes = block.A_im.shape
    P = H * modes
    channel = torch.arange(P) // modes  # (P,): the channel of each state
    s5 = S5(H, state_width=P)
    seq = s5.seq
    seq.Lambda = parameter(torch.complex(-torch.exp(block.A_re_log), block.A_im).flatten())
    seq.log_step = parameter(block.log_dt.repeat_interleave(modes))  # (P,)
    B = torch.zeros(P, H, 2)  # (P, H, re/im)
    B[torch.arange(P), channel, 0] = 1
    seq.B = parameter(B)
    C = torch.zeros(H, P, dtype=torch.complex128)
    C[channel, torch.arange(P)] = 2 * torch.complex(block.C[0], block.C[1]).flatten()
    seq.C = parameter(C)
    seq.D = parameter(block.D)
    return Wrapped(s5, lambda u: block.out(F.gelu(s5(u))))


@pytest.mark.slow
def test_s4d_matches_s5_pytorch_with_block_diagonal_b_and_c(float64):
    reference("s4d", "s5.s5_model")
    ours = built_in("s4d", hidden=D, state=8)
    assert_same_features(ours, with_blocks(ours, _s5_layer), length=19, atol=1e-10)


def _mambapy_block(block: nn.Module) -> nn.Module:
    from mambapy.mamba import MambaBlock, MambaConfig

    config = MambaConfig(d_model=block.in_proj.in_features, n_layers=1, d_state=block.state,
                         expand_factor=block.inner // block.in_proj.in_features,
                         d_conv=block.k)
    theirs = MambaBlock(config).double()  # it makes A_log float32 whatever the default
    theirs.load_state_dict({k.replace("conv.", "conv1d."): v
                            for k, v in block.state_dict().items()})
    return theirs


@pytest.mark.slow
def test_mamba_matches_mambapy(float64):
    reference("mamba", "mambapy.mamba")
    ours = built_in("mamba", hidden=D, state=4)
    # 1e-6, not 1e-10: its ssm() rounds A = -exp(A_log.float()) and D.float() to float32
    # (5e-8 apart here; 4e-16 with those casts undone)
    assert_same_features(ours, with_blocks(ours, _mambapy_block), length=13, atol=1e-6)


@pytest.mark.slow
def test_mamba_starts_delta_where_the_paper_and_mambapy_do():
    """Delta = softplus(b_dt) log-uniform in [dt_min, dt_max] = [0.001, 0.1] (Gu & Dao 2023,
    sec 3.6; the official mamba_simple.py) and W_dt uniform in +-R^-1/2: the built-in draws
    from mambapy's distributions (mamba-minimal, not on PyPI, keeps nn.Linear's default b_dt,
    so its Delta starts near softplus(+-R^-1/2), about 0.5 to 0.9 at our width)."""
    from scipy.stats import kstest

    from memorybench.models.mamba import MambaBlock

    mamba = reference("mamba", "mambapy.mamba")
    torch.manual_seed(0)
    ours = MambaBlock(128, state=4, expand=2, conv=4, dt_min=1e-3, dt_max=0.1)
    theirs = mamba.MambaBlock(mamba.MambaConfig(d_model=128, n_layers=1, d_state=4))
    for block in (ours, theirs):
        dt = F.softplus(block.dt_proj.bias.detach().double())  # (E,)
        assert 1e-3 * (1 - 1e-6) <= dt.min() and dt.max() <= 0.1 * (1 + 1e-6)
        spread = (torch.log(dt) - math.log(1e-3)) / (math.log(0.1) - math.log(1e-3))
        assert kstest(spread.numpy(), "uniform").pvalue > 0.01  # log-uniform
        assert block.dt_proj.weight.abs().max() <= block.dt_proj.in_features ** -0.5


def _retention(block: nn.Module) -> nn.Module:
    """yet-another-retnet's MultiScaleRetention without its relative position (xPos)."""
    from yet_another_retnet.retention import MultiScaleRetention

    H = block.out.in_features
    theirs = MultiScaleRetention(H, block.heads, relative_position=False, bias=False,
                                 group_norm_eps=block.norm.eps)  # its default: 1e-6
    q, k, v, g = block.qkvg.weight.chunk(4)  # (H, H) each
    for linear, w in [(theirs.q_proj, q), (theirs.k_proj, k), (theirs.v_proj, v),
                      (theirs.g_proj, g), (theirs.out_proj, block.out.weight)]:
        linear.weight = parameter(w)
    return Wrapped(theirs, lambda u: theirs(u, u, u)[0])


@pytest.mark.slow
def test_retnet_matches_yet_another_retnet(float64):
    reference("retnet", "yet_another_retnet.retention")
    # five heads of 8 (it asks for head sizes in multiples of 8); its GroupNorm has no
    # affine weights, so ours keep their init (1, 0)
    ours = built_in("retnet", keep=(".norm.",), hidden=40, heads=5, chunk=8)
    # 1e-6, not 1e-10: the built-in computes log gamma in float32 (its buffer), 1e-9 off
    # (2e-8 apart here; 4e-15 with a float64 log gamma)
    assert_same_features(ours, with_blocks(ours, _retention), length=21, atol=1e-6)


def _mlstm_cell(block: nn.Module, length: int) -> nn.Module:
    """xlstm's mLSTMCell between the block's q, k, v and its output gate and projection.
    Its gates read [q, k, v] = W_qkv x, ours x: W_gate pinv(W_qkv) maps one to the other
    (W_qkv, (3H, H), has full column rank)."""
    from xlstm.blocks.mlstm.backends import parallel_stabilized_simple
    from xlstm.blocks.mlstm.cell import mLSTMCell, mLSTMCellConfig

    H, heads = block.out.in_features, block.heads
    cell = mLSTMCell(mLSTMCellConfig(context_length=length, embedding_dim=H, num_heads=heads))
    to_gates = block.gates.weight @ torch.linalg.pinv(block.qkvo.weight[:3 * H])  # (2h, 3H)
    cell.igate.weight, cell.fgate.weight = map(parameter, to_gates.chunk(2))
    cell.igate.bias, cell.fgate.bias = map(parameter, block.gates.bias.chunk(2))
    cell.outnorm.weight = parameter(block.norm.weight - 1)  # its weight is 1 + w
    # its normalizer is max(|q n|, exp(-m)) + 1e-6; ours has no 1e-6
    cell.backend_fn = functools.partial(parallel_stabilized_simple, eps=0.0)

    def call(u: torch.Tensor) -> torch.Tensor:
        q, k, v, o = block.qkvo(u).chunk(4, dim=-1)  # (B, T, H) each
        return block.out(torch.sigmoid(o) * cell(q, k, v))

    return Wrapped(cell, call)


@pytest.mark.slow
def test_mlstm_matches_xlstm(float64):
    reference("mlstm", "xlstm.blocks.mlstm.cell")
    # its head norm has no bias, so ours keeps its init (0)
    ours = built_in("mlstm", keep=(".norm.bias",), hidden=16, heads=2, chunk=4)
    assert_same_features(ours, with_blocks(ours, lambda b: _mlstm_cell(b, 11)), length=11,
                         atol=1e-10)

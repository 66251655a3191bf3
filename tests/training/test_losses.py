"""Each formula against a value computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from vidsearch.training import losses as L

# two triplets: distances (a,p)=5, (a,n)=10 and (a,p)=1, (a,n)=2
XA = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
XP = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
XN = torch.tensor([[6.0, 8.0], [0.0, 2.0]])


@pytest.mark.parametrize("fn", [L.formula1_texture_triplet, L.formula2_texture_triplet])
def test_formula1_and_2_triplet(fn) -> None:  # type: ignore[no-untyped-def]
    # margin 6: max(5 - 10 + 6, 0) = 1 ; max(1 - 2 + 6, 0) = 5
    assert fn(XA, XP, XN, 6.0, "none").tolist() == pytest.approx([1.0, 5.0])
    # margin 0.5: max(-4.5, 0) = 0 ; max(-0.5, 0) = 0 -> mean 0
    assert float(fn(XA, XP, XN, 0.5)) == pytest.approx(0.0)
    assert float(fn(XA, XP, XN, 6.0)) == pytest.approx(3.0)
    assert float(fn(XA, XP, XN, 6.0, "sum")) == pytest.approx(6.0)


def test_formula3_adaptive_margin() -> None:
    l_em = torch.tensor([1.0, 0.0, 0.5], requires_grad=True)
    margin = L.formula3_adaptive_margin(l_em, margin0=8.0, m_em=0.5)  # 8 * l / 0.5
    assert margin.tolist() == pytest.approx([16.0, 0.0, 8.0])
    assert not margin.requires_grad


def test_formula4_quant_triplet_per_triplet_margin() -> None:
    # margins 16 and 0: max(5 - 10 + 16, 0) = 11 ; max(1 - 2 + 0, 0) = 0
    out = L.formula4_quant_triplet(XA, XP, XN, torch.tensor([16.0, 0.0]), "none")
    assert out.tolist() == pytest.approx([11.0, 0.0])
    assert float(L.formula4_quant_triplet(XA, XP, XN, 2.0)) == pytest.approx((0 + 1) / 2)


def test_formula5_sgn() -> None:
    u = torch.tensor([-0.5, 0.0, 2.0, -0.0, 1e-9])
    assert L.formula5_sgn(u).tolist() == [-1.0, 1.0, 1.0, 1.0, 1.0]


def test_formula6_coding_loss() -> None:
    u = torch.tensor([[0.5, -2.0, 0.0], [1.0, -1.0, 0.9]])
    # b = [1,-1,1] -> 0.25 + 1 + 1 = 2.25 ; b = [1,-1,1] -> 0 + 0 + 0.01 = 0.01
    assert L.formula6_coding_loss(u, "none").tolist() == pytest.approx([2.25, 0.01])
    assert float(L.formula6_coding_loss(u)) == pytest.approx(1.13)
    u.requires_grad_(True)
    L.formula6_coding_loss(u, "sum").backward()
    assert u.grad is not None  # d/du (b-u)^2 = -2(b-u), b constant
    assert torch.allclose(u.grad, torch.tensor([[-1.0, -2.0, -2.0], [0.0, 0.0, -0.2]]))


def test_formula7_quant_loss() -> None:
    out = L.formula7_quant_loss(torch.tensor(2.0), torch.tensor(3.0), w21=1.0, w22=0.5)
    assert float(out) == pytest.approx(3.5)  # 1*2 + 0.5*3


def test_formula8_quant_loss_weights_each_triplet_by_texture_loss() -> None:
    l_em = torch.tensor([0.5, 0.0, 2.0], requires_grad=True)
    l_trip = torch.tensor([2.0, 5.0, 1.0], requires_grad=True)
    out = L.formula8_quant_loss(l_em, l_trip, torch.tensor(10.0), w21=2.0, w22=0.1)
    # products [1, 0, 2] -> mean 1 ; 2*1 + 0.1*10 = 3
    assert float(out.detach()) == pytest.approx(3.0)
    out.backward()
    assert l_em.grad is None  # L_em' is a weight here, not trained through
    assert l_trip.grad is not None
    assert l_trip.grad.tolist() == pytest.approx([2 * 0.5 / 3, 0.0, 2 * 2.0 / 3])


def test_formula8_margin_is_margin_em_in_code_units() -> None:
    # Formula 3's map: a texture loss of M_em = 0.3 <-> margin0 = 8 code units, so the
    # texture margin 0.4 is 8 * 0.4 / 0.3 = 10.67 code units (not 0.4).
    assert L.formula8_margin(0.4, margin0=8.0, m_em=0.3) == pytest.approx(32.0 / 3.0)
    # it equals the Formula 3 margin of a triplet whose texture loss is margin_em
    f3 = L.formula3_adaptive_margin(torch.tensor([0.4]), margin0=8.0, m_em=0.3)
    assert float(f3) == pytest.approx(L.formula8_margin(0.4, 8.0, 0.3))


def test_formula8_texture_weight_is_unit_free() -> None:
    # L_em' = [0.3, 0.6] texture units / M_em 0.3 -> weights [1, 2]; L_triplet [4, 1]
    # products [4, 2] -> mean 3 ; w21 * 3 + w22 * L_coding = 2*3 + 0.5*2 = 7
    l_em = torch.tensor([0.3, 0.6])
    l_trip = torch.tensor([4.0, 1.0])
    out = L.formula8_quant_loss(l_em, l_trip, torch.tensor(2.0), w21=2.0, w22=0.5, m_em=0.3)
    assert float(out) == pytest.approx(7.0)
    # one formula-8 triplet end to end: codes at distance (a,p) = 2, (a,n) = 4 (one and
    # four flipped bits of 4), margin 10.67 -> L_triplet = 2 - 4 + 10.67 = 8.67, weight 1
    qa = torch.tensor([[1.0, 1.0, 1.0, 1.0]])
    qp = torch.tensor([[1.0, 1.0, 1.0, -1.0]])
    qn = -qa
    margin = L.formula8_margin(0.4, margin0=8.0, m_em=0.3)
    l_trip1 = L.formula4_quant_triplet(qa, qp, qn, margin, "none")
    assert l_trip1.tolist() == pytest.approx([2.0 - 4.0 + 32.0 / 3.0])
    out1 = L.formula8_quant_loss(torch.tensor([0.3]), l_trip1, torch.tensor(0.0), 1.0, 0.0,
                                 m_em=0.3)
    assert float(out1) == pytest.approx(26.0 / 3.0)


def test_rank_distill_loss_hand_case() -> None:
    # codes: u0 = (1, 0), u1 = (2, 0) (cos 1), u2 = (0, 3) (cos 0 to both, length ignored)
    # textures: t0 = (1, 0), t1 = (0.6, 0.8) (cos 0.6), t2 = (0, 1) (cos 0 and 0.8)
    u = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]], requires_grad=True)
    t = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], requires_grad=True)
    # pair errors: (0,1) 1 - 0.6 = 0.4 ; (0,2) 0 ; (1,2) 0 - 0.8 ; each twice
    want = 2 * (0.4**2 + 0.0 + 0.8**2) / 6
    out = L.rank_distill_loss(u, t)
    assert float(out.detach()) == pytest.approx(want)
    out.backward()
    assert t.grad is None  # the texture ranking is the teacher, not trained through
    assert u.grad is not None and float(u.grad.abs().sum()) > 0
    same = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert float(L.rank_distill_loss(same * 5, same)) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        L.rank_distill_loss(u[:1], t[:1])


def test_barlow_twins_loss_hand_cases() -> None:
    z1 = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # normalised columns: [-1, 1], [-1, 1]
    # aligned columns: C = [[1, 1], [1, 1]] -> 0 + 0.001 * (1 + 1)
    z2 = torch.tensor([[1.0, 0.0], [2.0, 5.0]])
    assert float(L.barlow_twins_loss(z1, z2, eps=0.0)) == pytest.approx(0.002)
    # second column anti-correlated: C = [[1, -1], [1, -1]] -> (1 - -1)^2 + 0.001 * 2
    z2 = torch.tensor([[1.0, 5.0], [2.0, 0.0]])
    assert float(L.barlow_twins_loss(z1, z2, eps=0.0)) == pytest.approx(4.002)
    # uncorrelated single dimension over 4 samples: C = 0 -> (1 - 0)^2
    a = torch.tensor([[1.0], [-1.0], [1.0], [-1.0]])
    b = torch.tensor([[1.0], [1.0], [-1.0], [-1.0]])
    assert float(L.barlow_twins_loss(a, b, lambd=0.5, eps=0.0)) == pytest.approx(1.0)


def test_barlow_twins_loss_rejects_single_sample() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        L.barlow_twins_loss(torch.ones(1, 3), torch.ones(1, 3))


def test_info_nce_by_hand() -> None:
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    pairs = torch.tensor([[0, 2], [2, 0]])
    t = 0.5
    # anchor 0: logits over rows 1, 2 (itself excluded) = [0, 0.6] / t; positive = row 2
    l0 = -math.log(math.exp(0.6 / t) / (math.exp(0.0) + math.exp(0.6 / t)))
    # anchor 2: logits over rows 0, 1 = [0.6, 0.8] / t; positive = row 0
    l2 = -math.log(math.exp(0.6 / t) / (math.exp(0.6 / t) + math.exp(0.8 / t)))
    got = L.info_nce_loss(z, pairs, temperature=t)
    assert abs(float(got) - (l0 + l2) / 2) < 1e-5


def test_koleo_by_hand_and_spreading_lowers_it() -> None:
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    # nearest other row: 0 -> 1 (dist sqrt 2), 1 -> 0 (sqrt 2), 2 -> 1 (sqrt 2)
    assert abs(float(L.koleo_loss(z)) + math.log(math.sqrt(2.0))) < 1e-5
    crowded = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.1], [1.0, -0.1]]))
    assert float(L.koleo_loss(crowded)) > float(L.koleo_loss(z))


def test_koleo_ignores_a_frames_own_copy() -> None:
    z = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0]]))
    # rows 0 and 1 are a frame and its copy: each one's neighbour is row 2 instead
    groups = torch.tensor([0, 0, 1])
    d02 = float(torch.linalg.vector_norm(z[0] - z[2]))
    d12 = float(torch.linalg.vector_norm(z[1] - z[2]))
    want = -(math.log(d02) + math.log(d12) + math.log(min(d02, d12))) / 3
    assert abs(float(L.koleo_loss(z, groups)) - want) < 1e-5
    assert float(L.koleo_loss(z)) > float(L.koleo_loss(z, groups))  # copies are close

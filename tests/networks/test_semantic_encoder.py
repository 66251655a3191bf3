"""The semantic frame encoder's served feature (scene facts readable without another model)."""

from __future__ import annotations

import torch

from vidsearch.networks.semantic import SemanticConfig, SemanticEncoder, joint_presence

TINY = SemanticConfig(widths=(8, 8, 16, 16), input_size=32, joint_cells=True)


def _cells(kind_at: tuple[int, int], colour_at: tuple[int, int]) -> list[torch.Tensor]:
    """One frame, 2x2 grid: a disk (kind 0) at ``kind_at``, red (colour 0) at ``colour_at``,
    background everywhere else."""
    n = TINY.cell_head_sizes
    cells = [torch.zeros(1, k, 2, 2) for k in n]
    cells[0][0, -1], cells[1][0, -1] = 1.0, 1.0  # "none" everywhere
    cells[2][0, 0], cells[3][0, 0] = 1.0, 1.0
    for p, at in ((cells[0], kind_at), (cells[1], colour_at)):
        p[0, :, at[0], at[1]] = 0.0
        p[0, 0, at[0], at[1]] = 1.0
    return cells


def test_joint_presence_binds_a_colour_to_its_shape() -> None:
    """'A red disk' and 'a red patch beside a disk' have the same per-class maxima; only
    the joint (kind, colour) feature tells them apart."""
    bound, apart = _cells((0, 0), (0, 0)), _cells((0, 0), (1, 1))
    for a, b in zip(bound, apart, strict=True):
        assert torch.equal(a.amax(dim=(2, 3)), b.amax(dim=(2, 3)))
    red_disk = 0  # (kind 0, colour 0) is the first entry of the kind x colour block
    assert joint_presence(bound, TINY)[0][0, red_disk] == 1.0
    assert joint_presence(apart, TINY)[0][0, red_disk] == 0.0


def test_feature_size_counts_the_joint_blocks() -> None:
    torch.manual_seed(0)
    plain = SemanticEncoder(TINY.model_copy(update={"joint_cells": False})).eval()
    joint = SemanticEncoder(TINY).eval()
    joint.load_state_dict(plain.state_dict())  # the joint blocks add no parameters
    frames = torch.randint(0, 256, (2, 3, 32, 32, 3), dtype=torch.uint8)
    a, b = plain(frames), joint(frames)
    assert b.shape == (2, 3, joint.feature_dim) and joint.feature_dim > plain.feature_dim
    assert torch.allclose(a, b[..., : plain.feature_dim])

"""Thick-slice simulation: values checked against hand calculations."""

from __future__ import annotations

import numpy as np
import pytest

from bcl_core.train.augment import AugmentConfig, augment_raw, thick_slice_operator

#: Every augmentation off except thick slices (always on).
THICK_ONLY = AugmentConfig(slice_blur_p=0.0, inplane_blur_p=0.0, noise_fraction=0.0,
                           intensity_scale=0.0, intensity_shift_fraction=0.0,
                           thick_slice_p=1.0, thick_slice_mm=(3.0, 3.0))


def test_interior_of_a_linear_ramp_is_unchanged() -> None:
    # A slice's mean of a linear profile is its value at the slice centre, and linear
    # interpolation between exact samples of a line is exact. Slices centred at 3..15 mm lie
    # wholly inside the profile, so voxels 3..15 are interior.
    operator = thick_slice_operator(20, 1.0, 3.0, 0.0)
    ramp = np.arange(20.0)
    np.testing.assert_allclose((operator @ ramp)[3:16], ramp[3:16], atol=1e-12)
    np.testing.assert_allclose(operator.sum(axis=1), 1.0, atol=1e-12)


def test_step_edge_through_3_mm_slices() -> None:
    # Profile 0 up to voxel 9, 1 from voxel 10 (linear in between); slices 3 mm thick centred
    # at 0, 3, 6, 9, 12 mm. Slice 9 averages [7.5, 10.5]: (0.5 + 0.5) / 3 = 1/3; slice 12 is 1.
    # Voxel 10 lies 1/3 of the way from 9 to 12: 2/3 * 1/3 + 1/3 = 5/9; voxel 11: 7/9.
    step = (np.arange(20) >= 10).astype(float)
    got = thick_slice_operator(20, 1.0, 3.0, 0.0) @ step
    np.testing.assert_allclose(got[[6, 7, 8, 9, 10, 11, 12]],
                               [0, 1 / 9, 2 / 9, 1 / 3, 5 / 9, 7 / 9, 1], atol=1e-12)


def test_slices_one_voxel_thick_blur_by_the_hat_integral() -> None:
    # Averaging the piecewise-linear profile over [x - 1/2, x + 1/2]: each neighbour's hat
    # contributes 1/8, the centre's 3/4. Slice centres fall on voxels, so no interpolation.
    operator = thick_slice_operator(9, 2.0, 2.0, 0.0)
    np.testing.assert_allclose(operator[4, 3:6], [1 / 8, 3 / 4, 1 / 8], atol=1e-12)
    assert operator[4, :3].sum() == 0 and operator[4, 6:].sum() == 0


@pytest.mark.parametrize("slice_axis", [0, 2])
def test_augmentation_acts_along_the_slice_axis_only(slice_axis: int) -> None:
    # A patch that varies only along array axis 0 changes under thick slices along axis 0
    # (to the 1-D result) and not at all along axis 2, where it is constant.
    profile = (np.arange(16) >= 8).astype(np.float32) * 1000.0
    patch = np.broadcast_to(profile[:, None, None], (16, 5, 6)).astype(np.float32)
    out = augment_raw(patch, slice_axis, "ct", THICK_ONLY, np.random.default_rng(3),
                      slice_voxel_mm=1.0)
    if slice_axis == 2:
        np.testing.assert_allclose(out, patch, atol=1e-3)
    else:
        assert not np.allclose(out[:, 0, 0], profile)
        # Whatever the phase, voxel x mixes slices within x +/- 3 mm, each 3 mm thick: voxels
        # up to 2 see only the zeros (the edge rises from voxel 7 to 8), voxels from 13 only
        # the plateau.
        assert np.all(out[:3] == 0) and np.all(np.abs(out[13:] - 1000) < 1e-3)
        assert np.all(np.diff(out[:, 2, 3]) >= -1e-3)  # the edge stays monotone
        np.testing.assert_allclose(out, np.broadcast_to(out[:, :1, :1], out.shape), atol=1e-3)


def test_thick_slices_are_off_by_default() -> None:
    assert AugmentConfig().thick_slice_p == 0.0

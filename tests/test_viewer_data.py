"""What the browser viewer is sent: RAS geometry, voxel order, stand-in grid, heat maps, payload.

Expected values come from hand calculations (LPS -> RAS is a sign flip of x and y) and from
nibabel's own reading of the NIfTI it is given, never from the functions under test.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from bcl_core.clinic.viewer_data import (
    HEAT_STEPS,
    Block,
    block_bytes,
    canonical_grid,
    mask_block,
    masked_heat,
    pack_payload,
    proxy_affine,
    proxy_nifti,
    ras_affine,
    ras_to_lps,
    unpack_payload,
    voxel_bytes,
    window_presets,
)
from bcl_core.errors import GeometryError
from bcl_core.volume import Volume

#: Sagittal MRI geometry as the phantom writes it: i -> +y (posterior), j -> -z (inferior),
#: k -> +x (patient left).
SAGITTAL = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def _volume(direction: np.ndarray | None = None, modality: str = "CT") -> Volume:
    values = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6) - 60  # [k, j, i], < 0: int16
    return Volume(values, spacing=(0.5, 0.8, 2.0), origin=(10.0, -20.0, 30.0),
                  direction=np.eye(3) if direction is None else direction, modality=modality)


def test_ras_affine_of_an_axial_grid_by_hand() -> None:
    volume = _volume()
    # LPS (x, y, z) = origin + spacing * ijk; RAS = (-x, -y, z).
    i, j, k = 3, 2, 1
    lps = (10.0 + 0.5 * i, -20.0 + 0.8 * j, 30.0 + 2.0 * k)
    ras = ras_affine(volume) @ np.array([i, j, k, 1.0])
    assert ras[:3] == pytest.approx([-lps[0], -lps[1], lps[2]])
    assert ras_to_lps(ras[:3]) == pytest.approx(lps)
    assert ras_to_lps(ras[:3]) == pytest.approx(tuple(volume.index_to_mm([i, j, k])))


def test_ras_to_lps_refuses_nonsense_with_a_message() -> None:
    with pytest.raises(GeometryError, match="click on the image again"):
        ras_to_lps([1.0, float("nan"), 2.0])
    with pytest.raises(GeometryError):
        ras_to_lps([1.0, 2.0])


@pytest.mark.parametrize("direction", [np.eye(3), SAGITTAL, np.diag([-1.0, 1.0, -1.0])])
def test_canonical_voxels_sit_at_the_same_patient_position(direction: np.ndarray) -> None:
    """A voxel value found in the canonical array is at the RAS mm of its source voxel."""
    volume = _volume(direction)
    raw, meta = voxel_bytes(volume)
    assert meta["dtype"] == "int16"
    dims = meta["dims"]
    canonical = np.frombuffer(raw, dtype="<i2").reshape(dims[2], dims[1], dims[0])  # [z, y, x]
    grid = canonical_grid(volume)
    assert tuple(dims) == grid.dims
    # Canonical axes point to +R, +A, +S: the affine's diagonal-dominant columns are positive.
    dominant = grid.affine[:3, :3][np.abs(grid.affine[:3, :3]).argmax(axis=0), [0, 1, 2]]
    assert np.all(dominant > 0)
    for ijk in [(0, 0, 0), (5, 4, 3), (2, 1, 3), (4, 0, 1)]:
        value = volume.array[ijk[2], ijk[1], ijk[0]]
        where = np.argwhere(canonical == value)
        assert len(where) == 1  # values are unique (arange)
        z, y, x = where[0]
        ras = grid.affine @ np.array([x, y, z, 1.0])
        lps = volume.index_to_mm(ijk)
        assert ras[:3] == pytest.approx([-lps[0], -lps[1], lps[2]])


def test_stand_in_grid_has_the_same_fractional_positions() -> None:
    """Coarse and fine grids map each fraction of the box to the same mm (hand formula)."""
    values = np.zeros((40, 48, 64), np.int16)
    volume = Volume(values, spacing=(0.7, 0.7, 1.25), origin=(-5.0, 3.0, -100.0))
    affine, dims = proxy_affine(volume, max_voxels=16)
    assert dims == (16, 16, 16)
    fine = canonical_grid(volume)
    for frac in [(0.5, 0.5, 0.5), (0.1, 0.9, 0.33), (1 / 128, 0.5, 1 / 80)]:
        fine_index = np.asarray(frac) * np.asarray(fine.dims) - 0.5
        coarse_index = np.asarray(frac) * np.asarray(dims) - 0.5
        fine_mm = fine.affine @ np.append(fine_index, 1.0)
        coarse_mm = affine @ np.append(coarse_index, 1.0)
        assert coarse_mm == pytest.approx(fine_mm)
    # And the NIfTI file carries exactly that affine (read back by nibabel).
    image = nib.Nifti1Image.from_bytes(proxy_nifti(volume))
    assert image.shape == dims
    assert image.get_sform() == pytest.approx(affine, abs=1e-4)
    assert image.header["descrip"].item() == b""


def test_masked_heat_keeps_only_the_vertebra_and_reports_empty_maps() -> None:
    series = Volume(np.zeros((6, 8, 10), np.int16), spacing=(1.0, 1.0, 2.0))
    mask = np.zeros((6, 8, 10), np.uint8)
    mask[2:4, 3:6, 4:7] = 1
    # A block of the grid (a Grad-CAM map) starting at voxel (i, j, k) = (3, 2, 1), value 0.8.
    block = Volume(np.full((4, 5, 6), 0.8, np.float32), spacing=(1.0, 1.0, 2.0),
                   origin=tuple(series.index_to_mm((3, 2, 1))))
    layer = masked_heat(series, block, series.with_array(mask))
    full = np.zeros((6, 8, 10), np.uint8)
    i0, j0, k0 = layer.block.start_ijk
    nk, nj, ni = layer.block.array.shape
    full[k0:k0 + nk, j0:j0 + nj, i0:i0 + ni] = layer.block.array
    expected = np.zeros((6, 8, 10), np.uint8)
    overlap = np.zeros((6, 8, 10), bool)
    overlap[1:5, 2:7, 3:9] = True  # where the block lies
    expected[(mask > 0) & overlap] = round(0.8 * HEAT_STEPS)
    assert np.array_equal(full, expected)
    assert layer.block.array.shape == (2, 3, 3)  # only the vertebra part of the block is sent
    assert layer.peak == pytest.approx(0.8)
    assert not layer.empty
    nothing = masked_heat(series, block.with_array(np.zeros((4, 5, 6), np.float32)),
                          series.with_array(mask))
    assert nothing.empty and not nothing.block.array.any()


def test_masked_heat_refuses_a_mask_from_another_series() -> None:
    series = Volume(np.zeros((6, 8, 10), np.int16))
    other = Volume(np.zeros((6, 8, 9), np.uint8))
    with pytest.raises(GeometryError, match="mark the vertebra again"):
        masked_heat(series, series.with_array(np.zeros((6, 8, 10), np.float32)), other)


def test_presets_per_modality() -> None:
    ct = window_presets(_volume(modality="CT"))
    mr = window_presets(_volume(modality="MR"))
    assert [p["name"] for p in ct] == ["bone", "soft tissue", "auto"]
    assert [p["name"] for p in mr] == ["auto"]  # no CT preset on MRI
    bone = ct[0]
    assert (bone["width"], bone["level"]) == (2000.0, 500.0)  # standard bone window


def test_payload_round_trip_with_descriptions() -> None:
    big = bytes(range(256)) * 70_000  # over two chunks
    payload = pack_payload({"img": (big, {"dims": [1, 2, 3]}), "mask": b"\x00\x01"})
    assert unpack_payload(payload) == {"img": big, "mask": b"\x00\x01"}
    assert len(payload) < len(big)
    with pytest.raises(ValueError):
        unpack_payload(b"not a payload")


@pytest.mark.parametrize("direction", [np.eye(3), SAGITTAL, np.diag([-1.0, 1.0, -1.0])])
def test_a_block_lands_where_the_full_array_has_it(direction: np.ndarray) -> None:
    """Block bytes placed at their canonical offset equal the full array's canonical voxels."""
    volume = _volume(direction)
    mask = np.zeros(volume.array.shape, np.uint8)
    mask[1:3, 2:5, 1:4] = 7
    mask[2, 3, 2] = 0
    block = mask_block(volume.with_array(mask))
    assert block.start_ijk == (1, 2, 1)  # (i, j, k) of the box's first voxel, by hand
    raw, meta = block_bytes(volume, block)
    dims, offset = meta["dims"], meta["offset"]
    full_raw, full_meta = voxel_bytes(volume, (mask > 0).astype(np.uint8))
    fd = full_meta["dims"]
    full = np.frombuffer(full_raw, np.uint8).reshape(fd[2], fd[1], fd[0])
    placed = np.zeros_like(full)
    part = np.frombuffer(raw, np.uint8).reshape(dims[2], dims[1], dims[0])
    placed[offset[2]:offset[2] + dims[2], offset[1]:offset[1] + dims[1],
           offset[0]:offset[0] + dims[0]] = part
    assert np.array_equal(placed, full)
    assert int(full.sum()) == 3 * 2 * 3 - 1


def test_an_empty_mask_is_one_zero_voxel_and_a_stray_block_is_refused() -> None:
    volume = _volume()
    empty = mask_block(volume.with_array(np.zeros(volume.array.shape, np.uint8)))
    assert empty.array.shape == (1, 1, 1) and not empty.array.any()
    with pytest.raises(GeometryError, match="another series"):
        block_bytes(volume, Block(np.ones((2, 2, 2), np.uint8), (5, 4, 3)))

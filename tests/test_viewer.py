"""Slice rendering: orientation, position in mm, windows, overlays, click mapping, speed."""

from __future__ import annotations

import time

import numpy as np
import pytest

from bcl_core.clinic.viewer import (
    WINDOW_PRESETS,
    Window,
    apply_window,
    auto_window,
    render_slice,
    slice_geometry,
)
from bcl_core.errors import GeometryError
from bcl_core.volume import Volume

BRIGHT = Window(1.0, 0.5)  # 0 -> black, 1 -> white


def _marked(shape_kji, marks, **geometry) -> Volume:
    array = np.zeros(shape_kji, np.float32)
    for k, j, i in marks:
        array[k, j, i] = 1.0
    return Volume(array, **geometry)


def _white(rendered) -> list[tuple[int, int]]:
    return [tuple(p) for p in np.argwhere(rendered.rgb[:, :, 0] == 255)]


def test_axial_shows_anterior_up_and_patient_right_on_the_left():
    # Identity direction: i -> +x (patient left), j -> +y (posterior), k -> +z (head).
    volume = _marked((4, 5, 6), [(2, 1, 4)], spacing=(1, 1, 1))
    rendered = render_slice(volume, "axial", position_mm=2.0, window=BRIGHT)
    # Row = y index (anterior first), column = x index (patient's right, low x, first).
    assert _white(rendered) == [(1, 4)]
    assert rendered.position_mm == 2.0 and rendered.index == 2


def test_sagittal_shows_head_up_and_anterior_left():
    volume = _marked((4, 5, 6), [(3, 1, 2)], spacing=(1, 1, 1))
    rendered = render_slice(volume, "sagittal", position_mm=2.0, window=BRIGHT)
    # Row 0 is the highest z (k=3), column = y index (anterior first).
    assert _white(rendered) == [(0, 1)]


def test_coronal_shows_head_up_and_patient_right_on_the_left():
    volume = _marked((4, 5, 6), [(0, 3, 5)], spacing=(1, 1, 1))
    rendered = render_slice(volume, "coronal", position_mm=3.0, window=BRIGHT)
    assert _white(rendered) == [(3, 5)]  # lowest z is the bottom row


def test_slices_stored_feet_first_land_at_the_right_mm():
    # k runs towards the feet: slice k sits at z = 10 - 2k.
    direction = np.diag([1.0, 1.0, -1.0])
    volume = _marked((5, 3, 3), [(1, 0, 0)], spacing=(1, 1, 2), origin=(0, 0, 10),
                     direction=direction)
    rendered = render_slice(volume, "axial", position_mm=8.0, window=BRIGHT)
    assert rendered.index == 1 and rendered.position_mm == pytest.approx(8.0)
    assert _white(rendered) == [(0, 0)]
    assert slice_geometry(volume, "axial").range_mm == (2.0, 10.0)
    # In the sagittal view the head is still up: k=1 (z=8) is the second display row pair.
    sagittal = render_slice(volume, "sagittal", position_mm=0.0, window=BRIGHT)
    assert sagittal.rgb.shape[:2] == (10, 3)  # 2 mm slices shown as two 1 mm rows
    assert [p for p in _white(sagittal)] == [(2, 0), (3, 0)]


def test_a_sagittal_mr_series_is_shown_as_stored():
    # A sagittal acquisition: i -> +y (posterior), j -> -z (down), k -> +x.
    direction = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    volume = _marked((3, 6, 7), [(1, 2, 5)], spacing=(1, 1, 4), direction=direction)
    rendered = render_slice(volume, "sagittal", position_mm=4.0, window=BRIGHT)
    assert rendered.index == 1
    assert _white(rendered) == [(2, 5)]  # row = j (head first), column = i (anterior first)


def test_clicks_map_back_to_the_voxel_shown():
    direction = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    volume = _marked((3, 6, 7), [(1, 2, 5)], spacing=(0.5, 0.5, 4), origin=(-3, 7, 20),
                     direction=direction)
    rendered = render_slice(volume, "sagittal", position_mm=1.0, window=BRIGHT)
    (row, col), = _white(rendered)
    point = rendered.pixel_to_mm(row, col)
    assert volume.nearest_voxel(point) == (1, 2, 5)


def test_window_presets_and_levels():
    assert WINDOW_PRESETS["soft tissue"] == Window(400, 40)
    grey = apply_window(np.array([-160.0, 40.0, 240.0]), WINDOW_PRESETS["soft tissue"])
    assert grey.tolist() == [0, 128, 255]  # bottom, middle, top of W400 L40
    window = auto_window(np.arange(1001), 1, 99)
    assert window.level == pytest.approx(500) and window.width == pytest.approx(980)
    with pytest.raises(ValueError):
        Window(0, 10)


def test_mask_outline_and_heat_map_overlays():
    image = Volume(np.zeros((1, 9, 9), np.float32))
    mask_array = np.zeros((1, 9, 9), np.uint8)
    mask_array[0, 2:7, 2:7] = 1  # 5 x 5 square: 16 boundary pixels, 9 inside
    heat = np.zeros((1, 9, 9), np.float32)
    heat[0, 0, 8] = 1.0
    rendered = render_slice(image, "axial", 0.0, BRIGHT, mask=image.with_array(mask_array),
                            heatmap=image.with_array(heat))
    outline = np.all(rendered.rgb == (255, 220, 0), axis=2)
    assert outline.sum() == 16 and not outline[4, 4]
    red, green, blue = rendered.rgb[0, 8].tolist()
    assert red > 100 and green == 0 and blue == 0  # hottest = red, blended over black
    assert rendered.rgb[8, 0].tolist() == [0, 0, 0]
    with pytest.raises(GeometryError, match="grid"):
        render_slice(image, "axial", mask=Volume(np.zeros((1, 9, 8))))


def test_unknown_plane_is_refused():
    with pytest.raises(GeometryError, match="Unknown view plane"):
        render_slice(Volume(np.zeros((2, 2, 2))), "oblique")  # type: ignore[arg-type]


def test_a_512_slice_renders_well_under_150_ms():
    rng = np.random.default_rng(0)
    volume = Volume(rng.integers(-1000, 2000, (64, 512, 512)).astype(np.int16),
                    spacing=(0.7, 0.7, 1.25), modality="CT")
    mask = volume.with_array((volume.array > 1500).astype(np.uint8))
    times = []
    for _ in range(5):
        start = time.perf_counter()
        rendered = render_slice(volume, "axial", 10.0, mask=mask)
        times.append(time.perf_counter() - start)
    assert rendered.rgb.shape == (512, 512, 3) and rendered.rgb.dtype == np.uint8
    assert sorted(times)[2] < 0.150


def test_auto_window_samples_before_converting() -> None:
    """A full series is never copied to float64 (0.5 s and 700 MB on a full-size CT)."""
    import tracemalloc

    values = np.random.default_rng(3).integers(-1000, 2000, size=(64, 256, 256)).astype(np.int16)
    tracemalloc.start()
    window = auto_window(values)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < values.size * 8 / 4  # a float64 copy would be values.size * 8 bytes
    # Same window as percentiles of the same every-k-th sample taken in float64 (numpy by hand).
    sample = values.astype(np.float64).reshape(-1)[:: values.size // 200_000]
    low, high = np.percentile(sample, [1, 99])
    assert window.width == pytest.approx(high - low) and window.level == pytest.approx((low + high) / 2)

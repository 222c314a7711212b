"""Heat maps on a block of the image grid (Grad-CAM maps) render like the full-size map."""

from __future__ import annotations

import numpy as np
import pytest

from bcl_core.clinic.viewer import block_offset, render_slice
from bcl_core.errors import GeometryError
from bcl_core.predict.preprocess import paste_into
from bcl_core.volume import Volume

SAGITTAL = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def _image(direction: np.ndarray | None = None) -> Volume:
    rng = np.random.default_rng(0)
    return Volume(rng.integers(-100, 400, (12, 10, 8)).astype(np.int16), spacing=(1.0, 1.5, 2.0),
                  origin=(5.0, -3.0, 20.0), direction=np.eye(3) if direction is None else direction,
                  modality="CT")


def _block(image: Volume, start_ijk: tuple[int, int, int], size_ijk: tuple[int, int, int]
           ) -> Volume:
    values = np.linspace(0.2, 1.0, int(np.prod(size_ijk)), dtype=np.float32).reshape(size_ijk[::-1])
    origin = image.index_to_mm(start_ijk)
    return Volume(values, spacing=image.spacing, origin=tuple(origin), direction=image.direction)


def test_block_pixels_are_exactly_where_the_block_is() -> None:
    image = _image()
    block = _block(image, (2, 3, 4), (3, 4, 5))
    plain = render_slice(image, "axial", image.index_to_mm((0, 0, 6))[2])
    heat = render_slice(image, "axial", image.index_to_mm((0, 0, 6))[2], heatmap=block)
    changed = np.any(plain.rgb != heat.rgb, axis=2)
    # Axial display of an identity grid: rows follow j (+y), columns follow i (+x), display
    # pixel 1 mm, so j spacing 1.5 mm spreads each source row over 1.5 display rows.
    rows = {r for r in range(changed.shape[0]) if 3 <= plain.source_rows[r] <= 6}
    cols = {c for c in range(changed.shape[1]) if 2 <= plain.source_cols[c] <= 4}
    assert set(np.nonzero(changed.any(axis=1))[0]) == rows
    assert set(np.nonzero(changed.any(axis=0))[0]) == cols
    outside = render_slice(image, "axial", image.index_to_mm((0, 0, 2))[2], heatmap=block)
    assert np.array_equal(outside.rgb, render_slice(image, "axial",
                                                    image.index_to_mm((0, 0, 2))[2]).rgb)


@pytest.mark.parametrize("plane", ["axial", "sagittal", "coronal"])
@pytest.mark.parametrize("direction", [np.eye(3), SAGITTAL])
def test_block_renders_like_the_pasted_full_map(plane: str, direction: np.ndarray) -> None:
    image = _image(direction)
    block = _block(image, (1, 2, 3), (4, 5, 3))
    full = image.with_array(paste_into(block, image))
    for index in range(0, 8):
        position = float(image.index_to_mm((index, index, index))[{"axial": 2, "sagittal": 0,
                                                                   "coronal": 1}[plane]])
        expected = render_slice(image, plane, position, heatmap=full).rgb
        got = render_slice(image, plane, position, heatmap=block).rgb
        assert np.array_equal(got, expected)


def test_a_map_on_another_grid_is_refused() -> None:
    image = _image()
    shifted = Volume(np.ones((2, 2, 2), np.float32), spacing=image.spacing,
                     origin=(5.4, -3.0, 20.0))
    assert block_offset(image, shifted) is None
    with pytest.raises(GeometryError, match="block"):
        render_slice(image, "axial", heatmap=shifted)

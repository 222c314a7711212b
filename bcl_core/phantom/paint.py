"""Painting a case's tissue labels on any series grid.

Order matters and encodes anatomy: the trunk first, then the structures that follow the spine
(canal, vessels, psoas), then discs, then vertebrae, whose bone wins wherever shapes overlap.
Each vertebra and disc is evaluated only inside its own index box.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from bcl_core.phantom.grid import Grid, affine_coords, local_box_corners
from bcl_core.phantom.organs import paint_organs
from bcl_core.phantom.ribs import Region, paint_ribs
from bcl_core.phantom.spec import CaseSpec
from bcl_core.phantom.tissues import Tissue
from bcl_core.phantom.trunk import blob_corners, paint_blob, paint_spinal_column, paint_trunk
from bcl_core.phantom.vertebra import (
    body_box,
    paint_body,
    paint_disc,
    paint_posterior_elements,
    posterior_box,
)

ScalarT = TypeVar("ScalarT", bound=np.generic)

#: Local box (u, w, h offsets, mm) that holds a vertebra with its processes.
LATERAL_REACH_MM = 56.0
POSTERIOR_REACH_MM = 46.0
VERTICAL_REACH_MM = 15.0


def _clip_box(box: tuple[tuple[int, ...], tuple[int, ...]] | None, lo: Sequence[int],
              hi: Sequence[int]) -> tuple[list[int], list[int]] | None:
    if box is None:
        return None
    blo = [max(box[0][a], lo[a]) for a in range(3)]
    bhi = [min(box[1][a], hi[a]) for a in range(3)]
    return None if any(bhi[a] <= blo[a] for a in range(3)) else (blo, bhi)


def spine_region_corners(spec: CaseSpec) -> NDArray[np.float64]:
    """Anatomy-frame corners enclosing every structure the spine painter draws."""
    corners = []
    for v in spec.anatomy.vertebrae:
        back = v.canal_center_w + v.canal_half_depth + POSTERIOR_REACH_MM
        corners.append(local_box_corners(
            v.center, v.rotation, (-LATERAL_REACH_MM - 8.0, -v.half_depth - 32.0,
                                   -v.height / 2 - VERTICAL_REACH_MM),
            (LATERAL_REACH_MM + 8.0, back, v.height / 2 + VERTICAL_REACH_MM)))
    return np.concatenate(corners)


def paint_labels(spec: CaseSpec, grid: Grid, lo: Sequence[int], hi: Sequence[int],
                 ) -> tuple[NDArray[np.uint8], NDArray[np.bool_]]:
    """Tissue labels and the target-vertebra mask over an index box of a grid.

    Parameters
    ----------
    spec:
        The case.
    grid:
        The series grid (its frame placed in the anatomy frame).
    lo, hi:
        Index box ``(i, j, k)``, ``hi`` exclusive.

    Returns
    -------
    labels, mask:
        Arrays of shape ``(nk, nj, ni)`` of the box.
    """
    matrix, offset = grid.index_affine()
    shape = (hi[2] - lo[2], hi[1] - lo[1], hi[0] - lo[0])
    x, y, z = affine_coords(matrix, offset, lo, hi)
    labels = np.empty(shape, dtype=np.uint8)
    if spec.anatomy.organs is None:
        trunk = np.zeros(np.broadcast_shapes(x.shape, y.shape), dtype=np.uint8)
        paint_trunk(trunk, x, y, spec.anatomy)
        labels[...] = trunk
    else:
        paint_trunk(labels, x, y, spec.anatomy, z)
    mask = np.zeros(shape, dtype=bool)

    def view(array: NDArray[ScalarT], blo: list[int], bhi: list[int]) -> NDArray[ScalarT]:
        """The part of a box-shaped (or broadcast) array inside a sub-box."""
        index = []
        for axis, a in ((0, 2), (1, 1), (2, 0)):
            if array.shape[axis] == 1 and shape[axis] != 1:
                index.append(slice(None))
            else:
                index.append(slice(blo[a] - lo[a], bhi[a] - lo[a]))
        return array[tuple(index)]

    def region_of(corners: NDArray[np.float64]) -> Region | None:
        box = _clip_box(grid.index_box(corners), lo, hi)
        if box is None:
            return None
        return (view(labels, *box), view(x, *box), view(y, *box), view(z, *box))

    paint_organs(spec.anatomy, region_of)
    for blob in spec.anatomy.blobs:
        box = _clip_box(grid.index_box(blob_corners(spec.anatomy, blob)), lo, hi)
        if box is not None:
            paint_blob(view(labels, *box), view(x, *box), view(y, *box), view(z, *box),
                       spec.anatomy, blob)

    z_values = np.asarray(z)
    paint_ribs(spec.anatomy.ribs, (float(z_values.min()) - 1.0, float(z_values.max()) + 1.0),
               region_of, Tissue.RIB_MARROW, Tissue.CORTEX)

    spine = _clip_box(grid.index_box(spine_region_corners(spec), margin=2), lo, hi)
    if spine is not None:
        paint_spinal_column(view(labels, *spine), view(x, *spine), view(y, *spine),
                            view(z, *spine), spec.anatomy)

    def local(center: Sequence[float], rotation: NDArray[np.float64], blo: list[int],
              bhi: list[int]) -> tuple[NDArray[np.float32], ...]:
        m_local = rotation.T @ matrix
        o_local = rotation.T @ (offset - np.asarray(center))
        coords = affine_coords(m_local, o_local, blo, bhi)
        return tuple(np.broadcast_arrays(*coords))

    for n, disc in enumerate(spec.anatomy.discs):
        corners = local_box_corners(
            disc.center, disc.rotation, (-disc.half_width - 1, -disc.half_depth - 1,
                                         -disc.half_height - 1),
            (disc.half_width + 1, disc.half_depth + 1, disc.half_height + 1))
        box = _clip_box(grid.index_box(corners), lo, hi)
        if box is None:
            continue
        u, w, h = local(disc.center, disc.rotation, *box)
        paint_disc(view(labels, *box), u, w, h, disc, n)  # type: ignore[arg-type]

    target = spec.anatomy.target_index
    for n, v in enumerate(spec.anatomy.vertebrae):
        fracture = (spec.features, spec.fracture) if n == target else (None, None)
        # Posterior elements first: the body wins where they meet.
        for part_box, painter in ((posterior_box(v), paint_posterior_elements),
                                  (body_box(v), paint_body)):
            corners = local_box_corners(v.center, v.rotation, *part_box)
            box = _clip_box(grid.index_box(corners), lo, hi)
            if box is None:
                continue
            u, w, h = local(v.center, v.rotation, *box)
            if painter is paint_body:
                part = paint_body(view(labels, *box), u, w, h, v, n,  # type: ignore[arg-type]
                                  fracture[0], fracture[1], spec.generation)
            else:
                part = paint_posterior_elements(view(labels, *box), u, w, h, v, n)  # type: ignore[arg-type]
            if n == target:
                view(mask, *box)[part] = True
    return labels, mask


def average_over_slice(spec: CaseSpec, grid: Grid, lo: Sequence[int], hi: Sequence[int],
                       thickness_mm: float, n_sub: int, tables: Sequence[NDArray[np.float32]],
                       ) -> tuple[list[NDArray[np.float32]], NDArray[np.float32]]:
    """Label lookups averaged over a slice's thickness (partial volume across the slice).

    Parameters
    ----------
    spec, grid, lo, hi:
        As :func:`paint_labels`.
    thickness_mm:
        Slice thickness; ``n_sub`` sub-slices are placed evenly across it.
    tables:
        Label -> value lookup tables (e.g. HU, T2 signal, "is cancellous bone").

    Returns
    -------
    averages, mask_fraction:
        One averaged array per table, and the fraction of sub-slices inside the target.
    """
    sums: list[NDArray[np.float32]] = []
    votes = np.zeros((hi[2] - lo[2], hi[1] - lo[1], hi[0] - lo[0]), dtype=np.float32)
    for s in range(n_sub):
        offset_mm = ((s + 0.5) / n_sub - 0.5) * thickness_mm
        labels, mask = paint_labels(spec, grid.shifted_k(offset_mm), lo, hi)
        for n, table in enumerate(tables):
            if s == 0:
                sums.append(table[labels])
            else:
                sums[n] += table[labels]
        votes += mask
    for total in sums:
        total /= n_sub
    votes /= n_sub
    return sums, votes

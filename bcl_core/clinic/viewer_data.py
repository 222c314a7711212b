"""What the browser viewer is sent: voxels in RAS order, a stand-in grid, masked heat maps.

The browser viewer (NiiVue, packaged in ``pages/components/browser_viewer.py``) works in NIfTI's
world frame, RAS (+x right, +y anterior, +z superior), while a :class:`Volume` speaks DICOM LPS
(+x left, +y posterior, +z superior). The two differ by a sign on x and y, so the RAS affine is
``diag(-1, -1, 1) @ Volume.affine`` (:func:`ras_affine`) and a point the viewer reports in RAS
mm maps back to LPS by the same flip (:func:`ras_to_lps`).

What is sent per series:

* the voxels, reordered to the closest RAS axis order (:func:`voxel_bytes`): the browser keeps
  them in a GPU texture and windows, outlines and colours each drawn slice from it;
* a coarse stand-in grid covering the same box (:func:`proxy_nifti`, at most
  ``PROXY_MAX_VOXELS`` per axis, no patient voxels) from which NiiVue lays out its views. NiiVue
  would otherwise recolour the whole volume on every window change or overlay, which costs
  seconds per change on a browser without a GPU;
* the vertebra mask and the heat maps, as uint8 blocks around the vertebra (:func:`block_bytes`),
  placed in the same grid by their offset.

Only voxels and geometry leave the server: no names, dates or identifiers; the stand-in NIfTI
header's description, intent name and auxiliary file are empty.

Everything here is plain computation (no Streamlit): the page wraps it.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bcl_core.clinic.viewer import AUTO, WINDOW_PRESETS, Window, auto_window
from bcl_core.errors import GeometryError
from bcl_core.volume import Volume

logger = logging.getLogger(__name__)

#: LPS <-> RAS: the sign flip of x and y (its own inverse).
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])
#: zlib-format level of the data sent to the browser. With ISA-L (``isal``, in requirements.txt)
#: level 2 compresses the demo CT (92 MB raw) to 51 MB in 0.4 s; Python's zlib reaches the same
#: size at level 1 in 1.8 s, and is the fallback when isal is not installed.
COMPRESS_LEVEL = 2
ZLIB_FALLBACK_LEVEL = 1
#: Raw bytes per compressed chunk (chunks compress on the server and inflate in the browser in
#: parallel).
CHUNK_BYTES = 8 * 1024 * 1024
#: Heat maps travel as uint8 with this many steps over [0, 1] (NIfTI scl_slope = 1/255).
HEAT_STEPS = 255
#: A heat map whose largest value inside the vertebra is below this is "nothing to show".
HEAT_EMPTY_BELOW = 1.0 / HEAT_STEPS
#: First bytes of a payload (see :func:`pack_payload`).
PAYLOAD_MAGIC = b"BCLV1\x00"
#: Stored dtypes NiiVue reads as they are; anything else becomes float32.
_NATIVE_DTYPES = (np.uint8, np.int16, np.uint16, np.int32, np.float32)


def _compact(data: NDArray[Any]) -> NDArray[Any]:
    """The smallest dtype NiiVue reads that holds the values exactly (CT HU fit int16)."""
    if data.dtype == np.bool_:
        return data.astype(np.uint8)
    if np.issubdtype(data.dtype, np.integer) and data.size:
        low, high = int(data.min()), int(data.max())
        for dtype in (np.uint8, np.int16, np.uint16, np.int32):
            info = np.iinfo(dtype)
            if info.min <= low and high <= info.max:
                return data.astype(dtype, copy=False)
    if any(data.dtype == d for d in _NATIVE_DTYPES):
        return data
    return data.astype(np.float32)


def ras_affine(volume: Volume) -> NDArray[np.float64]:
    """4x4 matrix mapping ``(i, j, k, 1)`` to RAS mm (the NIfTI sform of ``volume``).

    Examples
    --------
    >>> v = Volume(np.zeros((1, 1, 1)), spacing=(2.0, 3.0, 4.0), origin=(10.0, 20.0, 30.0))
    >>> ras_affine(v)[:3].tolist()
    [[-2.0, 0.0, 0.0, -10.0], [0.0, -3.0, 0.0, -20.0], [0.0, 0.0, 4.0, 30.0]]
    """
    flip = np.eye(4)
    flip[:3, :3] = LPS_TO_RAS
    return flip @ volume.affine


def ras_to_lps(point_ras_mm: ArrayLike) -> tuple[float, float, float]:
    """An RAS point (what the viewer reports) in LPS mm (what ``bcl_core`` speaks).

    Raises
    ------
    GeometryError
        If the point is not three finite numbers.

    Examples
    --------
    >>> ras_to_lps([1.5, -2.0, 3.0])
    (-1.5, 2.0, 3.0)
    """
    point = np.asarray(point_ras_mm, dtype=np.float64).reshape(-1)
    if point.shape != (3,) or not np.all(np.isfinite(point)):
        raise GeometryError(f"The viewer reported an unusable position {point_ras_mm!r}; "
                            "click on the image again.")
    lps = LPS_TO_RAS @ point
    return (float(lps[0]), float(lps[1]), float(lps[2]))


#: Largest size per axis of the stand-in grid NiiVue is given (see :func:`proxy_nifti`).
PROXY_MAX_VOXELS = 16


@dataclass(frozen=True)
class CanonicalGrid:
    """A volume's grid in the closest RAS voxel order (flips and axis swaps of ``(i, j, k)``).

    The browser stores voxels in this order, so its texture axes run along R, A and S as far
    as the acquisition allows and no reordering happens there.
    """

    #: nibabel orientation array: input axis ``a`` goes to output axis ``ornt[a, 0]``, flipped
    #: when ``ornt[a, 1] == -1``.
    ornt: NDArray[np.float64]
    #: 4x4 canonical index -> RAS mm.
    affine: NDArray[np.float64]
    #: Voxels along the canonical axes.
    dims: tuple[int, int, int]


def canonical_grid(volume: Volume) -> CanonicalGrid:
    """The closest RAS voxel order of ``volume`` and its RAS affine."""
    from nibabel import orientations

    affine = ras_affine(volume)
    ornt = orientations.io_orientation(affine)
    size = volume.size_ijk
    dims = [0, 0, 0]
    for axis in range(3):
        dims[int(ornt[axis, 0])] = int(size[axis])
    canonical = affine @ orientations.inv_ornt_aff(ornt, size)
    return CanonicalGrid(ornt, canonical, (dims[0], dims[1], dims[2]))


def voxel_bytes(volume: Volume, array: NDArray[Any] | None = None
                ) -> tuple[memoryview, dict[str, Any]]:
    """Voxels of ``array`` (default the volume's own) in canonical order, x fastest.

    Parameters
    ----------
    volume:
        Gives the grid.
    array:
        Voxels indexed ``[k, j, i]`` like ``volume.array`` (a mask, a heat map).

    Returns
    -------
    tuple
        The little-endian bytes (a view of one copy of the voxels) and their description ``{"dims", "dtype"}`` (dims along the
        canonical axes; dtype one of ``uint8``, ``int16``, ``uint16``, ``int32``, ``float32``).

    Raises
    ------
    GeometryError
        If ``array`` is not on the volume's grid.
    """
    from nibabel import orientations

    data = volume.array if array is None else np.asarray(array)
    if data.shape != volume.array.shape:
        raise GeometryError(f"The overlay's shape {data.shape} does not match the image "
                            f"{volume.array.shape}; it belongs to another series.")
    grid = canonical_grid(volume)
    data = _compact(data)
    # array[k, j, i].T is indexed [i, j, k]; reoriented, its transpose in C order is x fastest.
    canonical = orientations.apply_orientation(data.T, grid.ornt)
    # One copy: reorder and (where needed) byte-swap in a single pass; no second copy to bytes.
    raw = np.array(canonical.T, dtype=data.dtype.newbyteorder("<"), order="C")
    return raw.data.cast("B"), {"dims": list(grid.dims), "dtype": str(data.dtype)}


def proxy_affine(volume: Volume, max_voxels: int = PROXY_MAX_VOXELS
                 ) -> tuple[NDArray[np.float64], tuple[int, int, int]]:
    """Affine and size of a coarse grid covering exactly the box of the canonical grid.

    A coarse voxel ``x_p`` spans the fine voxels of the same fraction of the box: fine index
    ``x = s * x_p + (s - 1) / 2`` with ``s = n / n_p``, so the fractional coordinate
    ``(x + 0.5) / n`` of every point is the same on both grids. NiiVue lays out its views,
    crosshair, orientation letters and mm read-out from this grid (cheap to prepare), while the
    browser samples the full-resolution voxels at the same fractional coordinates.

    Examples
    --------
    >>> v = Volume(np.zeros((4, 1, 32)), spacing=(1.0, 2.0, 3.0))
    >>> affine, dims = proxy_affine(v)
    >>> dims
    (16, 1, 4)
    """
    grid = canonical_grid(volume)
    dims_fine = np.asarray(grid.dims, dtype=np.float64)
    dims_proxy = np.minimum(dims_fine, max_voxels)
    scale = dims_fine / dims_proxy
    step = np.eye(4)
    step[:3, :3] = np.diag(scale)
    step[:3, 3] = (scale - 1.0) / 2.0
    dims = tuple(int(d) for d in dims_proxy)
    return grid.affine @ step, (dims[0], dims[1], dims[2])


def proxy_nifti(volume: Volume) -> bytes:
    """The coarse stand-in grid of :func:`proxy_affine` as an uncompressed NIfTI-1 file.

    It holds no patient voxels (zeros and a single one, so its range is not empty), only the
    geometry; its header's description, intent name and auxiliary file are empty.
    """
    import nibabel as nib

    affine, dims = proxy_affine(volume)
    data = np.zeros(dims, np.uint8)
    data.flat[0] = 1
    image = nib.Nifti1Image(data, affine)
    header = image.header
    header.set_sform(affine, code=1)
    header.set_qform(affine, code=1)
    header.set_xyzt_units("mm")
    header["descrip"] = b""
    header["aux_file"] = b""
    header["intent_name"] = b""
    return image.to_bytes()


@dataclass(frozen=True)
class Block:
    """A box of a series' voxels: ``array[k, j, i]`` starting at index ``start_ijk``."""

    array: NDArray[Any]
    start_ijk: tuple[int, int, int]


def nonzero_block(array: NDArray[Any]) -> Block:
    """The smallest box holding every nonzero voxel (one zero voxel when there is none)."""
    where = np.nonzero(array)
    if not where[0].size:
        return Block(np.zeros((1, 1, 1), array.dtype), (0, 0, 0))
    lo = [int(w.min()) for w in where]
    hi = [int(w.max()) + 1 for w in where]
    box = array[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    return Block(np.ascontiguousarray(box), (lo[2], lo[1], lo[0]))


def block_bytes(volume: Volume, block: Block) -> tuple[bytes, dict[str, Any]]:
    """A block's voxels in canonical order with where it sits in the canonical grid.

    Returns
    -------
    tuple
        Bytes (x fastest) and ``{"dims", "offset", "dtype"}``: the block's size and first voxel
        along the canonical axes (see :func:`canonical_grid`).

    Raises
    ------
    GeometryError
        If the block does not fit inside the volume.
    """
    from nibabel import orientations

    size = np.asarray(block.array.shape[::-1])
    start = np.asarray(block.start_ijk)
    if np.any(start < 0) or np.any(start + size > np.asarray(volume.size_ijk)):
        raise GeometryError("The overlay lies outside the image; it belongs to another series.")
    grid = canonical_grid(volume)
    data = _compact(block.array)
    canonical = orientations.apply_orientation(data.T, grid.ornt)
    raw = np.ascontiguousarray(canonical.T).astype(data.dtype.newbyteorder("<"), copy=False)
    offset = [0, 0, 0]
    for axis in range(3):
        target, flip = int(grid.ornt[axis, 0]), grid.ornt[axis, 1] < 0
        n = volume.size_ijk[axis]
        offset[target] = int(n - (start[axis] + size[axis]) if flip else start[axis])
    dims = [int(v) for v in canonical.shape]
    return raw.tobytes(), {"dims": dims, "offset": offset, "dtype": str(data.dtype)}


def mask_block(mask: Volume) -> Block:
    """The vertebra mask as a 0/1 block around the vertebra (what the viewer outlines)."""
    return nonzero_block((np.asarray(mask.array) > 0).astype(np.uint8))


@dataclass(frozen=True)
class HeatLayer:
    """A heat map ready for the viewer: a uint8 block inside the vertebra, and its peak."""

    #: Quantised values (value / HEAT_STEPS is the map's value; 0 outside the vertebra).
    block: Block
    #: Largest map value inside the vertebra (0 when the modality contributed nothing).
    peak: float

    @property
    def empty(self) -> bool:
        """Whether the map shows nothing inside the vertebra."""
        return self.peak < HEAT_EMPTY_BELOW


def masked_heat(series: Volume, heat: Volume, mask: Volume) -> HeatLayer:
    """The heat map kept only inside the vertebra ``mask`` (no crop-rectangle edges).

    Parameters
    ----------
    series:
        The image the map is drawn on.
    heat:
        Map values in [0, 1] on the series grid or a block (sub-grid) of it (Grad-CAM maps).
    mask:
        The vertebra mask on the series grid.

    Returns
    -------
    HeatLayer
        Quantised map (``HEAT_STEPS`` steps over [0, 1]) on the smallest block holding it, and
        its peak inside the mask.

    Raises
    ------
    GeometryError
        If the map or the mask is not on the series' grid (or a block of it).
    """
    from bcl_core.clinic.viewer import block_offset

    if mask.array.shape != series.array.shape or not series.same_grid(mask):
        raise GeometryError("The vertebra outline is not on this series' grid; mark the "
                            "vertebra again.")
    if series.same_grid(heat):
        offset = np.zeros(3, dtype=np.intp)
    else:
        found = block_offset(series, heat)
        if found is None:
            raise GeometryError("The heat map is not on this series' grid; run the prediction "
                                "again.")
        offset = found
    start = np.maximum(offset, 0)
    stop = np.minimum(offset + np.asarray(heat.size_ijk), np.asarray(series.size_ijk))
    if not np.all(stop > start):
        return HeatLayer(nonzero_block(np.zeros((1, 1, 1), np.uint8)), 0.0)
    local0, local1 = start - offset, stop - offset
    values = np.asarray(heat.array, dtype=np.float32)[
        local0[2]:local1[2], local0[1]:local1[1], local0[0]:local1[0]]
    inside = np.asarray(mask.array)[start[2]:stop[2], start[1]:stop[1], start[0]:stop[0]] > 0
    kept = np.clip(np.where(inside, values, 0.0), 0.0, 1.0)
    peak = float(kept.max()) if kept.size else 0.0
    quantised = np.rint(kept * HEAT_STEPS).astype(np.uint8)
    box = nonzero_block(quantised)
    shifted = Block(box.array, tuple(int(a + b) for a, b in zip(box.start_ijk, start,
                                                                strict=True)))  # type: ignore[arg-type]
    return HeatLayer(shifted, peak)


def window_presets(volume: Volume) -> list[dict[str, Any]]:
    """The window presets offered for a series: CT bone / soft tissue / auto; MRI auto only.

    A manual window (right-drag, or typed width and level) is always available besides these.
    The first entry is the one the viewer opens with.

    Examples
    --------
    >>> ct = Volume(np.zeros((2, 2, 2), np.int16), modality="CT")
    >>> [p["name"] for p in window_presets(ct)]
    ['bone', 'soft tissue', 'auto']
    """
    # The same every-n-th-voxel sample auto_window takes, without converting the whole series.
    values = np.asarray(volume.array).reshape(-1)
    auto = auto_window(values[:: max(1, values.size // 200_000)])
    named: list[tuple[str, Window]] = []
    if volume.modality == "CT":
        named.extend(WINDOW_PRESETS.items())
    named.append((AUTO, auto))
    return [{"name": name, "width": window.width, "level": window.level}
            for name, window in named]


def _compressor() -> Callable[[bytes | memoryview], bytes]:
    """ISA-L's zlib-format compressor when installed (4x faster), else Python's zlib."""
    try:
        from isal import isal_zlib
    except ImportError:  # pragma: no cover - isal is in requirements.txt
        logger.debug("isal not installed: the viewer data is compressed with zlib (slower)")
        return lambda part: zlib.compress(part, ZLIB_FALLBACK_LEVEL)
    return lambda part: isal_zlib.compress(part, COMPRESS_LEVEL)


def _compress_chunks(blob: bytes | memoryview) -> list[bytes]:
    """zlib-format chunks of ``blob`` (compressed in parallel: both compressors drop the GIL)."""
    compress = _compressor()
    views = [blob[i:i + CHUNK_BYTES] for i in range(0, len(blob), CHUNK_BYTES)] or [b""]
    if len(views) == 1:
        return [compress(views[0])]
    workers = max(1, min(len(views), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(compress, views))


Blob = bytes | memoryview | tuple[bytes | memoryview, Mapping[str, Any]]


def pack_payload(items: Mapping[str, Blob]) -> bytes:
    """Several named blobs in one compressed byte string (one data transfer to the browser).

    Layout: ``PAYLOAD_MAGIC``, a little-endian uint32 header length, a UTF-8 JSON header
    ``{"items": [{"id", "raw_size", "chunks": [compressed sizes], "meta"}]}``, then each item's
    zlib chunks (``CHUNK_BYTES`` raw bytes each) in order. An item is bytes, or bytes and a
    JSON-able description (``meta``, e.g. from :func:`voxel_bytes`). The browser inflates the
    chunks in parallel (``viewer_frontend/src/payload.js``).

    Examples
    --------
    >>> unpack_payload(pack_payload({"a": b"xy", "b": b""}))
    {'a': b'xy', 'b': b''}
    """
    blobs = {key: item[0] if isinstance(item, tuple) else item for key, item in items.items()}
    metas = {key: dict(item[1]) if isinstance(item, tuple) else {} for key, item in items.items()}
    compressed = {key: _compress_chunks(blob) for key, blob in blobs.items()}
    header = json.dumps({"items": [
        {"id": key, "raw_size": len(blobs[key]), "chunks": [len(c) for c in chunks],
         "meta": metas[key]}
        for key, chunks in compressed.items()]}).encode()
    body = [chunk for chunks in compressed.values() for chunk in chunks]
    return b"".join([PAYLOAD_MAGIC, struct.pack("<I", len(header)), header, *body])


def unpack_payload(payload: bytes) -> dict[str, bytes]:
    """Inverse of :func:`pack_payload` (the browser does the same in JavaScript).

    Raises
    ------
    ValueError
        If the bytes are not a payload.
    """
    if not payload.startswith(PAYLOAD_MAGIC):
        raise ValueError("not a viewer payload")
    start = len(PAYLOAD_MAGIC)
    (length,) = struct.unpack_from("<I", payload, start)
    header = json.loads(payload[start + 4:start + 4 + length])
    offset = start + 4 + length
    out: dict[str, bytes] = {}
    for item in header["items"]:
        parts = []
        for size in item["chunks"]:
            parts.append(zlib.decompress(payload[offset:offset + size]))
            offset += size
        out[item["id"]] = b"".join(parts)
        if len(out[item["id"]]) != item["raw_size"]:
            raise ValueError("viewer payload item is incomplete")
    return out

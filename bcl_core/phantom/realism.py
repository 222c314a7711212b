"""Realism measurements of synthetic cases against published reference values (issue 23).

Each function measures one acceptance quantity on rendered volumes (or, for geometry, on the
shapes the painter draws); :data:`REFERENCES` holds the published value each is compared with
and its source (the same table as ``docs/phantom.md``). ``benchmarks/phantom_realism.py`` prints
them side by side; the tests check the cheap ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from bcl_core.phantom.anatomy import (
    LEVEL_NAMES,
    Vertebra,
    fracture_endplates,
    fracture_tilt_deg,
    table_size,
)
from bcl_core.phantom.ct import ct_grid
from bcl_core.phantom.fracture import posterior_wall_w
from bcl_core.phantom.grid import Grid
from bcl_core.phantom.paint import paint_labels, spine_region_corners
from bcl_core.phantom.spec import CaseSpec
from bcl_core.phantom.tissues import CANCELLOUS_BASE, POSTERIOR_BASE, Tissue
from bcl_core.volume import Volume


@dataclass(frozen=True)
class Reference:
    """A published reference value (or acceptance bound) and where it comes from."""

    item: int
    quantity: str
    reference: str
    source: str


#: The acceptance quantities of issue 23 with their reference values and sources.
REFERENCES: dict[str, Reference] = {
    "nps_peak_per_mm": Reference(1, "CT noise power spectrum peak (mm^-1)", "0.2-0.5",
                                 "FBP ramp x kernel (Kijewski & Judy 1987)"),
    "nps_low_ratio": Reference(1, "NPS(0.05 mm^-1) / peak", "< 0.3",
                               "FBP ramp x kernel (Kijewski & Judy 1987)"),
    "noise_corr_nonadjacent": Reference(1, "noise correlation, slices 2 apart", "< 0.2",
                                        "independent projections per slice (issue 23)"),
    "noise_sd_path_corr": Reference(1, "corr(noise SD, path length) over slices", "> 0",
                                    "quantum noise ~ exp(mu L) (Kijewski & Judy 1987)"),
    "texture_z_over_xy": Reference(1, "trabecular texture corr z(1.25 mm) / xy(1.4 mm)",
                                   "> 1.5", "vertical trabeculae (issue 23)"),
    "endplate_gap_fraction": Reference(2, "intact endplate columns < 250 HU (1.25 mm CT)",
                                       "< 0.01", "intact cortex is continuous (issue 23)"),
    "l5s1_lordosis_deg": Reference(7, "L5-S1 segmental lordosis (deg)", "10-25",
                                   "normal lumbosacral angle (issue 23)"),
    "t10l2_kyphosis_deg": Reference(7, "T10-L2 angle (deg, kyphosis +)", "-5..+10",
                                    "thoracolumbar junction (Bernhardt & Bridwell 1989)"),
    "t5t12_kyphosis_deg": Reference(7, "T5-T12 kyphosis (deg)", "25-55",
                                    "normal thoracic kyphosis (Fon et al. 1980)"),
    "wedge_ratio_t10_l1": Reference(7, "intact ant/post height T10-L1", "0.90-0.97",
                                    "normal thoracic wedging (issue 23)"),
    "depth_over_table": Reference(7, "body depth / size table", "1.00 +- 0.03",
                                  "size table in anatomy.py (issue 23)"),
    "biconcave_ant_post": Reference(4, "biconcave anterior / posterior height", "0.9-1.1",
                                    "biconcave spares both margins (Genant et al. 1993)"),
    "biconcave_mid_over_margin": Reference(4, "biconcave mid / smaller margin height", "<= 0.8",
                                           "Genant et al. 1993 (>= 20 % loss)"),
    "genant_min_reduction": Reference(4, "smallest target height reduction", ">= 0.20",
                                      "Genant grade >= 1 (Genant et al. 1993)"),
    "compaction_hu": Reference(4, "median fractured - neighbour cancellous HU", "> 0",
                               "compression compacts trabeculae (issue 23)"),
    "foramen_ks_p": Reference(5, "KS p, foramen width target vs neighbours", "> 0.05",
                              "same distribution at every level (issue 23)"),
    "pedicle_cortex_peak_hu": Reference(8, "pedicle cortex peak (HU)", ">= 800",
                                        "compact bone > 1000 HU, blurred (issue 23)"),
    "artefacts_recorded": Reference(8, "artefacts in truth.json", "all",
                                    "issue 23"),
    "lung_beside_t11": Reference(6, "cases with lung beside T11", ">= 0.80",
                                 "posterior costophrenic recess at T12-L1 (Gray's Anatomy)"),
    "kidney_at_l1l2": Reference(6, "cases with kidney beside L1-L2", ">= 0.80",
                                "kidneys at T12-L3 (Gray's Anatomy)"),
    "trunk_area_range": Reference(6, "trunk area range along z (relative)", "> 0.02",
                                  "body outline changes along z (issue 23)"),
    "gas_over_muscle": Reference(6, "bowel-gas voxels on muscle", "0", "issue 23"),
    "t2_oedema_over_marrow": Reference(3, "plain T2 oedema / marrow", "1.0-1.3",
                                       "oedema subtle without fat suppression (issue 23)"),
    "stir_fat_over_csf": Reference(3, "STIR fat / CSF", "< 0.2",
                                   "fat suppressed by inversion (issue 23)"),
    "stir_oedema_over_marrow": Reference(3, "STIR oedema / marrow", ">= 2",
                                         "oedema bright on STIR (Cuenod et al. 1996)"),
    "t1_oedema_over_marrow": Reference(3, "T1 oedema / marrow", "<= 0.7",
                                       "oedema dark on T1 (Cuenod et al. 1996)"),
}


# --- CT noise and texture -----------------------------------------------------------------
def radial_nps(noise: NDArray[np.floating], pixel_mm: float, bins: int = 40,
               ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Radially averaged noise power spectrum of noise-only slices ``(n, rows, columns)``.

    Returns
    -------
    frequencies, power:
        Bin centres (mm^-1) and mean power per bin (arbitrary units).
    """
    noise = np.asarray(noise, dtype=np.float64)
    noise = noise - noise.mean(axis=(1, 2), keepdims=True)
    power = (np.abs(np.fft.fft2(noise)) ** 2).mean(axis=0)
    fy = np.fft.fftfreq(noise.shape[1], d=pixel_mm)[:, None]
    fx = np.fft.fftfreq(noise.shape[2], d=pixel_mm)[None, :]
    f = np.sqrt(fx * fx + fy * fy).ravel()
    edges = np.linspace(0.0, 0.5 / pixel_mm, bins + 1)
    which = np.digitize(f, edges) - 1
    keep = (which >= 0) & (which < bins)
    total = np.bincount(which[keep], power.ravel()[keep], minlength=bins)
    count = np.bincount(which[keep], minlength=bins)
    return (edges[:-1] + edges[1:]) / 2, total / np.maximum(count, 1)


def nps_figures(noise: NDArray[np.floating], pixel_mm: float) -> tuple[float, float]:
    """``(peak frequency mm^-1, NPS(0.05 mm^-1) / peak)`` of noise-only slices."""
    freqs, power = radial_nps(noise, pixel_mm)
    peak = int(np.argmax(power))
    low = float(np.interp(0.05, freqs, power))
    return float(freqs[peak]), low / float(power[peak])


def slice_correlation(noise: NDArray[np.floating], lag: int) -> float:
    """Mean Pearson correlation between noise slices ``lag`` apart."""
    a = np.asarray(noise[:-lag], dtype=np.float64).reshape(noise.shape[0] - lag, -1)
    b = np.asarray(noise[lag:], dtype=np.float64).reshape(noise.shape[0] - lag, -1)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    r = (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    return float(r.mean())


def noise_roi(noisy: Volume, clean: Volume, spec: CaseSpec, half_px: int = 64,
              anterior_mm: float = 70.0) -> NDArray[np.float32]:
    """Noise (noisy - clean) in a square ``anterior_mm`` in front of the target, every slice."""
    k, j, i = noisy.nearest_voxel(spec.target_center_ct - np.array([0.0, anterior_mm, 0.0]))
    rows = slice(max(0, j - half_px), j + half_px)
    cols = slice(max(0, i - half_px), i + half_px)
    return (noisy.array[:, rows, cols].astype(np.float32)
            - clean.array[:, rows, cols].astype(np.float32))


def noise_sd_path_correlation(noisy: Volume, clean: Volume, spec: CaseSpec) -> float:
    """Correlation over slices between the noise SD and the trunk's path length there."""
    noise = noise_roi(noisy, clean, spec)
    sd = noise.reshape(noise.shape[0], -1).std(axis=1)
    z = noisy.origin[2] + noisy.spacing[2] * np.arange(noise.shape[0])
    half_a, half_b = spec.anatomy.trunk_half_axes(z)
    path = np.broadcast_to(np.asarray(half_a) + np.asarray(half_b), sd.shape)
    if np.ptp(path) == 0:
        return 0.0
    return float(np.corrcoef(sd, path)[0, 1])


def spine_labels(spec: CaseSpec, grid: Grid) -> tuple[NDArray[np.uint8], tuple[int, ...]]:
    """Tissue labels at slice centres in the box around the spine, and the box's ``lo``."""
    box = grid.index_box(spine_region_corners(spec), margin=2)
    lo, hi = box if box is not None else ((0, 0, 0), grid.shape[::-1])
    labels, _ = paint_labels(spec, grid, lo, hi)
    return labels, tuple(lo)


def _crop(volume: Volume, lo: tuple[int, ...], shape: tuple[int, ...]) -> NDArray[np.float32]:
    return volume.array[lo[2]:lo[2] + shape[0], lo[1]:lo[1] + shape[1],
                        lo[0]:lo[0] + shape[2]].astype(np.float32)


def texture_correlations(clean: Volume, spec: CaseSpec, labels: NDArray[np.uint8],
                         lo: tuple[int, ...]) -> tuple[float, float]:
    """``(corr along z at one slice, corr in-plane at ~1.4 mm)`` of cancellous texture.

    Measured in the eroded cancellous bone of the vertebrae other than the target, on the CT
    without noise, after removing each body's mean.
    """
    image = _crop(clean, lo, labels.shape)
    step = max(1, int(round(1.4 / clean.spacing[0])))
    pairs_z: list[tuple[NDArray[np.float64], NDArray[np.float64]]] = []
    pairs_xy: list[tuple[NDArray[np.float64], NDArray[np.float64]]] = []
    for n in range(len(spec.anatomy.vertebrae)):
        if n == spec.anatomy.target_index:
            continue
        inside = ndimage.binary_erosion(labels == CANCELLOUS_BASE + n, iterations=3)
        if inside.sum() < 500:
            continue
        values = image - image[inside].mean()
        both_z = inside[1:] & inside[:-1]
        pairs_z.append((values[:-1][both_z[:, :, :]], values[1:][both_z]))
        both_x = inside[:, :, step:] & inside[:, :, :-step]
        pairs_xy.append((values[:, :, :-step][both_x], values[:, :, step:][both_x]))
    if not pairs_z:
        return float("nan"), float("nan")

    def corr(pairs: list[tuple[NDArray[np.float64], NDArray[np.float64]]]) -> float:
        a = np.concatenate([p[0] for p in pairs])
        b = np.concatenate([p[1] for p in pairs])
        return float(np.corrcoef(a, b)[0, 1])

    return corr(pairs_z), corr(pairs_xy)


# --- endplates and cortex -----------------------------------------------------------------
def endplate_gap_fraction(ct: Volume, spec: CaseSpec, threshold_hu: float = 250.0,
                          reach_mm: float = 4.0) -> float:
    """Fraction of intact endplate columns whose brightest voxel is below ``threshold_hu``.

    For every vertebra other than the target and its neighbours (whose endplates face the
    fracture), points of the superior and inferior endplates inside the rim are mapped to CT
    pixels; each pixel's column of voxels within ``reach_mm`` of the endplate height is a
    column, and a column with no voxel reaching the threshold is a gap.
    """
    gaps = total = 0
    t = spec.anatomy.target_index
    for n, v in enumerate(spec.anatomy.vertebrae):
        if abs(n - t) <= 1 or v.level == "S1":
            continue
        uu, ww = np.meshgrid(np.linspace(-0.75, 0.75, 21) * v.half_width,
                             np.linspace(-0.75, 0.75, 21) * v.half_depth, indexing="ij")
        # Inside the rim: within 0.75 of the way to the wall (the posterior wall is at 0.72 b).
        depth = np.where(ww > 0, 0.72 * v.half_depth, v.half_depth)
        inside = (uu / v.half_width) ** 2 + (ww / depth) ** 2 <= 0.75**2
        u, w = uu[inside], ww[inside]
        top, bottom = fracture_endplates(None, v.height, u, w, v.half_width, v.half_depth,
                                         v.wedge_ratio, spec.generation)
        for h in (top, bottom):
            points = v.to_anatomy(np.stack([u, w, h], axis=1))
            ijk = ct.mm_to_index(points)
            if np.any(ijk < 0) or np.any(ijk[:, :2] > np.array(ct.size_ijk[:2]) - 1):
                continue
            k_reach = int(np.ceil(reach_mm / ct.spacing[2]))
            ks = np.rint(ijk[:, 2]).astype(int)
            if ks.min() - k_reach < 0 or ks.max() + k_reach >= ct.size_ijk[2]:
                continue
            i, j = np.rint(ijk[:, 0]).astype(int), np.rint(ijk[:, 1]).astype(int)
            column_max = np.max([ct.array[ks + d, j, i] for d in range(-k_reach, k_reach + 1)],
                                axis=0)
            gaps += int((column_max < threshold_hu).sum())
            total += column_max.size
    return gaps / max(total, 1)


def pedicle_cortex_peak_hu(ct: Volume, labels: NDArray[np.uint8], lo: tuple[int, ...],
                           spec: CaseSpec) -> float:
    """Median over the posterior-element cortex of its 3x3x3 local maximum HU (the peak)."""
    image = _crop(ct, lo, labels.shape)
    posterior = (labels >= POSTERIOR_BASE) & (labels < POSTERIOR_BASE + 16)
    near = ndimage.binary_dilation(posterior, iterations=2)
    cortex = near & (labels == Tissue.CORTEX)
    peaks = ndimage.maximum_filter(image, size=3)
    return float(np.median(peaks[cortex])) if cortex.any() else float("nan")


# --- curvature (geometry the painter draws) -----------------------------------------------
def _endplate_angle_deg(v: Vertebra, superior: bool) -> float:
    """Sagittal tilt (deg, anterior positive) of an intact endplate's upward normal."""
    slope = (1.0 - v.wedge_ratio) * v.height / 2 / (1.8 * v.half_depth)
    normal_local = np.array([0.0, -slope if superior else slope, 1.0])
    normal = v.rotation @ (normal_local / np.linalg.norm(normal_local))
    return float(np.degrees(np.arctan2(-normal[1], normal[2])))


def _level(spec: CaseSpec, name: str) -> Vertebra:
    return spec.anatomy.vertebrae[LEVEL_NAMES.index(name)]


def cobb_deg(spec: CaseSpec, upper: str, lower: str) -> float:
    """Angle (deg, kyphosis positive) from ``upper``'s superior to ``lower``'s inferior endplate,
    of the intact shapes, without the tilt the generator adds above a wedge fracture (whole
    above the target, half at it): the spine's own shape."""
    v = spec.anatomy.target
    tilt = fracture_tilt_deg(spec.features, v.height, v.half_depth)
    t = spec.anatomy.target_index

    def added(name: str) -> float:
        pos = LEVEL_NAMES.index(name)
        return tilt if pos < t else tilt / 2 if pos == t else 0.0

    return (_endplate_angle_deg(_level(spec, upper), True) - added(upper)
            - _endplate_angle_deg(_level(spec, lower), False) + added(lower))


def lumbosacral_lordosis_deg(spec: CaseSpec) -> float:
    """L5-S1 segmental lordosis (deg, lordosis positive)."""
    return (_endplate_angle_deg(_level(spec, "S1"), True)
            - _endplate_angle_deg(_level(spec, "L5"), False))


def body_heights(v: Vertebra, spec: CaseSpec, fractured: bool) -> tuple[float, float, float]:
    """Anterior, middle and posterior heights (mm) of a body on its midsagittal line.

    Measured 2.5 mm inside the anterior wall and the posterior wall (clear of the rounded rim)
    and half-way between.
    """
    anterior = -v.half_depth + 2.5
    posterior = float(posterior_wall_w(0.0, v)) - 2.5
    w = np.array([anterior, (anterior + posterior) / 2, posterior])
    top, bottom = fracture_endplates(spec.features if fractured else None, v.height,
                                     np.zeros(3), w, v.half_width, v.half_depth, v.wedge_ratio,
                                     spec.generation)
    heights = top - bottom
    return float(heights[0]), float(heights[1]), float(heights[2])


def genant_reduction(spec: CaseSpec) -> float:
    """Largest height reduction of the target (anterior, middle or posterior) against the same
    body intact, as Genant's semiquantitative method grades it (>= 0.20 is grade 1)."""
    v = spec.anatomy.target
    fractured = np.array(body_heights(v, spec, True))
    intact = np.array(body_heights(v, spec, False))
    return float(np.max(1.0 - fractured / intact))


def body_depth_over_table(v: Vertebra) -> float:
    """Midsagittal body depth (anterior wall to posterior wall) over the size table's."""
    table = table_size(v.level)
    scale = v.height / table[2]
    depth = v.half_depth + float(posterior_wall_w(0.0, v))
    return depth / (2.0 * table[1] * scale)


# --- CT densities -----------------------------------------------------------------------------
def compaction_difference_hu(clean: Volume, labels: NDArray[np.uint8], lo: tuple[int, ...],
                             spec: CaseSpec) -> float:
    """Mean HU of the fractured body's cancellous bone minus the mean of its neighbours'."""
    image = _crop(clean, lo, labels.shape)
    t = spec.anatomy.target_index
    target = np.isin(labels, (CANCELLOUS_BASE + t, Tissue.OEDEMA, Tissue.IMPACTION))
    target = ndimage.binary_erosion(target, iterations=2)
    neighbours = []
    for n in (t - 1, t + 1):
        inside = ndimage.binary_erosion(labels == CANCELLOUS_BASE + n, iterations=2)
        if inside.sum() > 200:
            neighbours.append(float(image[inside].mean()))
    if not neighbours or target.sum() < 200:
        return float("nan")
    return float(image[target].mean()) - float(np.mean(neighbours))


# --- surroundings --------------------------------------------------------------------------
def axial_labels_at(spec: CaseSpec, z_mm: float, half_mm: float = 150.0,
                    pixel_mm: float = 2.0) -> NDArray[np.uint8]:
    """Tissue labels of one axial slice at height ``z_mm`` (2 mm pixels, around the spine)."""
    n = int(2 * half_mm / pixel_mm) + 1
    t = spec.anatomy.target.center
    origin = (t[0] - half_mm, t[1] - half_mm, z_mm)
    grid = Grid((1, n, n), (pixel_mm, pixel_mm, 1.0), origin, np.eye(3))
    labels, _ = paint_labels(spec, grid, (0, 0, 0), (n, n, 1))
    return labels[0]


def lung_beside(spec: CaseSpec, level: str) -> bool:
    """Whether an axial slice through a level's body centre shows lung."""
    return bool((axial_labels_at(spec, _level(spec, level).center[2]) == Tissue.LUNG).any())


def kidney_beside(spec: CaseSpec, upper: str = "L1", lower: str = "L2") -> bool:
    """Whether an axial slice through the disc between two levels shows a kidney."""
    z = (_level(spec, upper).center[2] + _level(spec, lower).center[2]) / 2
    return bool((axial_labels_at(spec, z) == Tissue.KIDNEY).any())


def trunk_area_range(spec: CaseSpec) -> float:
    """Relative range of the trunk's cross-section area over the full-size CT's slices."""
    grid = ct_grid(spec, compact=False)
    z = grid.origin[2] + grid.spacing[2] * np.arange(grid.shape[0])
    half_a, half_b = spec.anatomy.trunk_half_axes(z)
    area = np.broadcast_to(np.asarray(half_a) * np.asarray(half_b), z.shape)
    return float(np.ptp(area) / area.mean())


def gas_over_muscle(ct_labels_slab: NDArray[np.uint8], trunk_only: NDArray[np.uint8]) -> int:
    """Voxels painted as bowel gas where the trunk alone is muscle."""
    return int(((ct_labels_slab == Tissue.BOWEL_GAS) & (trunk_only == Tissue.MUSCLE)).sum())


# --- MRI contrast -------------------------------------------------------------------------
def mr_tissue_means(mr: Volume, labels: NDArray[np.uint8], spec: CaseSpec,
                    ) -> dict[str, float]:
    """Mean signal of oedema, the neighbours' marrow, fat and CSF (labels eroded in-plane)."""
    image = mr.array.astype(np.float32)
    t = spec.anatomy.target_index
    structure = np.zeros((1, 3, 3), dtype=bool)
    structure[0] = True

    def mean_of(mask: NDArray[np.bool_]) -> float:
        inner = ndimage.binary_erosion(mask, structure=structure, iterations=1)
        return float(image[inner].mean()) if inner.sum() >= 10 else float("nan")

    marrow = np.isin(labels, [CANCELLOUS_BASE + n for n in (t - 1, t + 1)])
    return {"oedema": mean_of(labels == Tissue.OEDEMA), "marrow": mean_of(marrow),
            "fat": mean_of(labels == Tissue.FAT), "csf": mean_of(labels == Tissue.CSF)}

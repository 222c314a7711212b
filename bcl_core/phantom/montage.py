"""A one-page picture of a synthetic case: CT axial, CT sagittal and coronal reformats and the
sagittal T2 MRI through the target, with the target-vertebra masks outlined.

Reads what ``bcl synth`` wrote (the DICOM series through the project's loader and the NIfTI
masks), so the picture shows exactly what a model or a reader would get.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bcl_core.io import load_volume
from bcl_core.io.case_folder import read_case_mask, read_case_series, read_truth
from bcl_core.volume import Volume, resample

#: Extra sagittal MR series a case may hold (folder, panel title).
EXTRA_SERIES = (("stir", "MRI sagittal STIR (as acquired)"), ("t1", "MRI sagittal T1 (as acquired)"))
#: Field of view of the reformats around the target, mm (half-widths: left-right, AP, SI).
REFORMAT_HALF_MM = (95.0, 75.0, 80.0)
REFORMAT_STEP_MM = 0.5


def _reformat(volume: Volume, center: NDArray[np.float64], axis_i: NDArray[np.float64],
              axis_j: NDArray[np.float64], half_i: float, half_j: float,
              order: int) -> NDArray[np.float32]:
    """A plane through ``center`` spanned by unit vectors ``axis_i`` (columns), ``axis_j``."""
    n_i, n_j = int(2 * half_i / REFORMAT_STEP_MM) + 1, int(2 * half_j / REFORMAT_STEP_MM) + 1
    normal = np.cross(axis_i, axis_j)
    direction = np.stack([axis_i, axis_j, normal], axis=1)
    origin = center - axis_i * half_i - axis_j * half_j
    plane = resample(volume, (n_i, n_j, 1), (REFORMAT_STEP_MM,) * 3, tuple(origin), direction,
                     order=order, fill_value=float(volume.array.min()))
    return np.asarray(plane.array[0], dtype=np.float32)


def make_montage(case_dir: str | Path, out_png: str | Path) -> Path:
    """Draw the montage of one case folder written by ``bcl synth``.

    Parameters
    ----------
    case_dir:
        ``DIR/<case_id>`` with ``ct/``, ``mr/``, the masks and ``truth.json``.
    out_png:
        Where to write the PNG.

    Returns
    -------
    Path
        The PNG written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    case = Path(case_dir)
    truth = read_truth(case)
    ct, mr = read_case_series(case, "ct"), read_case_series(case, "mr")
    ct_mask, mr_mask = read_case_mask(case, "ct"), read_case_mask(case, "mr")
    ct_point = np.asarray(truth.ct_point_mm)
    mr_point = np.asarray(truth.mr_point_mm)
    half_lr, half_ap, half_si = REFORMAT_HALF_MM
    left, posterior, inferior = np.eye(3)[0], np.eye(3)[1], -np.eye(3)[2]

    # Radiological display: patient's right on the image's left, anterior up (axial) or left
    # (sagittal), head up.
    axial = (_reformat(ct, ct_point, left, posterior, half_lr, half_ap, 1),
             _reformat(ct_mask, ct_point, left, posterior, half_lr, half_ap, 0))
    sagittal = (_reformat(ct, ct_point, posterior, inferior, half_ap, half_si, 1),
                _reformat(ct_mask, ct_point, posterior, inferior, half_ap, half_si, 0))
    coronal = (_reformat(ct, ct_point, left, inferior, half_lr, half_si, 1),
               _reformat(ct_mask, ct_point, left, inferior, half_lr, half_si, 0))
    # The MR is shown as acquired: its own slice nearest the target, in its own pixel grid.
    k, _, _ = mr.nearest_voxel(mr_point)
    mr_slice, mr_mask_slice = mr.array[k].astype(np.float32), mr_mask.array[k]

    panels = [
        ("CT axial (bone window)", axial, (-250.0, 1250.0)),
        ("CT sagittal reformat", sagittal, (-250.0, 1250.0)),
        ("CT coronal reformat", coronal, (-250.0, 1250.0)),
        ("MRI sagittal T2 (as acquired)", (mr_slice, mr_mask_slice),
         (0.0, float(np.percentile(mr.array, 99.7)))),
    ]
    # Generation 2 cases also hold STIR and T1 series on the T2 grid (same slice, same mask).
    for folder, title in EXTRA_SERIES:
        if (case / folder).is_dir():
            extra = load_volume(case / folder)
            panels.append((title, (extra.array[k].astype(np.float32), mr_mask_slice),
                           (0.0, float(np.percentile(extra.array, 99.7)))))
    rows = 1 if len(panels) == 4 else 2
    columns = 4 if rows == 1 else 3
    fig, axes = plt.subplots(rows, columns, figsize=(17, 5.6 * rows if rows == 1 else 12.5),
                             facecolor="black")
    for ax, (title, (image, mask), (low, high)) in zip(np.ravel(axes), panels, strict=True):
        # Every panel has square pixels (reformats at REFORMAT_STEP_MM, MR as acquired).
        ax.imshow(image, cmap="gray", vmin=low, vmax=high, interpolation="bilinear")
        if mask.any():
            ax.contour(mask.astype(float), levels=[0.5], colors="#ff5a36", linewidths=0.9)
        ax.set_title(title, color="white", fontsize=11)
        ax.axis("off")
    labels = ", ".join(f"{t}={truth.labels[t]}" for t in sorted(truth.labels))
    feats = truth.features
    fig.suptitle(
        f"SYNTHETIC case {truth.case_id} ({truth.document.get('site', '?')}): {truth.level} "
        f"{feats['fracture_type']} fracture, height loss {feats['height_loss']:.0%}; "
        f"leakage labels {labels}. Orange: target vertebra mask.",
        color="white", fontsize=11)
    fig.tight_layout(rect=(0.0, 0.0, 1.0, 1.0 if rows == 1 else 0.96))
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, facecolor="black")
    plt.close(fig)
    return out

"""Acquisition profiles of the three synthetic sites (after the protocol's parameters).

* ``internal``: the retrospective development centre (CT 1.25 mm slices, 512x512; sagittal T2
  MRI 320x256, 4 mm slices).
* ``prospective``: the same scanners later on: other patients (another random stream), same
  acquisition.
* ``external``: another centre with other scanners (CT 3.75 mm slices, MRI 384x326), another
  noise level and intensity scaling, and a slightly older, more osteoporotic population.
"""

from __future__ import annotations

from dataclasses import dataclass

from bcl_core.errors import PhantomError


@dataclass(frozen=True)
class CTProtocol:
    """Axial CT acquisition of one site.

    Attributes
    ----------
    matrix:
        In-plane pixels (square) of a full-size series.
    pixel_mm:
        In-plane pixel size of a full-size series.
    slice_mm:
        Slice thickness and spacing (contiguous reconstruction).
    noise_hu:
        Standard deviation of the image noise in soft tissue, HU.
    psf_sigma_mm:
        In-plane point-spread (reconstruction kernel) as a Gaussian sigma.
    manufacturer, model:
        Invented scanner names written to DICOM.
    nps_peak_per_mm:
        Generation 2: spatial frequency where the noise power spectrum peaks (the kernel's
        roll-off: a sharper kernel peaks higher).
    adjacent_slice_correlation:
        Generation 2: noise correlation between neighbouring slices.
    """

    matrix: int
    pixel_mm: float
    slice_mm: float
    noise_hu: float
    psf_sigma_mm: float
    manufacturer: str
    model: str
    nps_peak_per_mm: float = 0.35
    adjacent_slice_correlation: float = 0.25


@dataclass(frozen=True)
class MRProtocol:
    """Sagittal T2-weighted MRI acquisition of one site.

    Attributes
    ----------
    rows, columns:
        Full-size matrix: rows run superior to inferior, columns anterior to posterior.
    pixel_mm:
        In-plane pixel size.
    slice_mm, slice_gap_mm:
        Slice thickness and the gap between slices.
    n_slices:
        Number of sagittal slices of a full-size series.
    noise:
        Noise standard deviation relative to the CSF signal.
    gain:
        Scanner intensity scaling (stored value of CSF).
    """

    rows: int
    columns: int
    pixel_mm: float
    slice_mm: float
    slice_gap_mm: float
    n_slices: int
    noise: float
    gain: float
    manufacturer: str
    model: str


@dataclass(frozen=True)
class SiteProfile:
    """One synthetic site: its patient stream, population and scanners.

    Attributes
    ----------
    name:
        ``internal``, ``prospective`` or ``external``.
    code:
        Short upper-case code used in case IDs.
    stream:
        Random-stream number: different sites never share patients even with the same seed.
    density_shift_hu:
        Shift of the population's cancellous bone density (HU) against the internal site.
    """

    name: str
    code: str
    stream: int
    density_shift_hu: float
    ct: CTProtocol
    mr: MRProtocol


_INTERNAL_CT = CTProtocol(matrix=512, pixel_mm=0.703125, slice_mm=1.25, noise_hu=18.0,
                          psf_sigma_mm=0.35, manufacturer="PHANTOM CT VENDOR A",
                          model="PhantomScan 64")
_INTERNAL_MR = MRProtocol(rows=320, columns=256, pixel_mm=0.9, slice_mm=4.0, slice_gap_mm=0.0,
                          n_slices=15, noise=0.035, gain=2000.0,
                          manufacturer="PHANTOM MR VENDOR A", model="PhantomField 1.5T")

SITES: dict[str, SiteProfile] = {
    "internal": SiteProfile("internal", "INT", 0, 0.0, _INTERNAL_CT, _INTERNAL_MR),
    "prospective": SiteProfile("prospective", "PRO", 1, 0.0, _INTERNAL_CT, _INTERNAL_MR),
    "external": SiteProfile(
        "external", "EXT", 2, -8.0,
        CTProtocol(matrix=512, pixel_mm=0.78125, slice_mm=3.75, noise_hu=12.0,
                   psf_sigma_mm=0.5, manufacturer="PHANTOM CT VENDOR B", model="OtherScan 16",
                   nps_peak_per_mm=0.25, adjacent_slice_correlation=0.1),
        MRProtocol(rows=384, columns=326, pixel_mm=0.8, slice_mm=4.0, slice_gap_mm=0.4,
                   n_slices=15, noise=0.05, gain=3100.0,
                   manufacturer="PHANTOM MR VENDOR B", model="OtherField 3T"),
    ),
}

#: Compact series (training sets): in-plane pixel size is this factor times the full-size one.
COMPACT_PIXEL_FACTOR = 1.4
#: Compact CT matrix (square) and its extent above and below the target centre, mm.
COMPACT_CT_MATRIX = 160
COMPACT_CT_HALF_EXTENT_MM = 36.0
#: Compact MR matrix (rows, columns) and slice count.
COMPACT_MR_SHAPE = (112, 96)
COMPACT_MR_SLICES = 11


def get_site(name: str) -> SiteProfile:
    """The profile of a site by name.

    Raises
    ------
    PhantomError
        If ``name`` is not one of ``internal``, ``prospective``, ``external``.

    Examples
    --------
    >>> get_site("external").ct.slice_mm
    3.75
    """
    try:
        return SITES[name]
    except KeyError:
        raise PhantomError(
            f"unknown site {name!r}; choose one of {', '.join(SITES)}."
        ) from None

"""End-to-end checks of the synthetic case generator (compact cases, so they stay fast)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from bcl_core.cli import main
from bcl_core.errors import PhantomError
from bcl_core.io.nifti import read_nifti
from bcl_core.phantom.batch import synthesize
from bcl_core.phantom.ct import ct_grid, render_ct
from bcl_core.phantom.mr import mr_grid, render_mr
from bcl_core.phantom.spec import sample_case_spec
from bcl_core.phantom.writer import write_case
from bcl_core.volume import Volume

SITES = ("internal", "prospective", "external")


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One compact case per site, written through the command line."""
    out = {}
    for site in SITES:
        folder = tmp_path_factory.mktemp(site)
        assert main(["synth", "--out", str(folder), "--cases", "1", "--site", site,
                     "--seed", "11", "--compact", "--workers", "1"]) == 0
        out[site] = folder
    return out


def _case_dir(folder: Path) -> Path:
    (case,) = [p for p in folder.iterdir() if p.is_dir()]
    return case


def _read_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


@pytest.mark.parametrize("site", SITES)
def test_outputs_follow_the_contract(cases: dict[str, Path], site: str) -> None:
    folder = cases[site]
    case = _case_dir(folder)
    for name in ("truth.json", "ct_mask.nii.gz", "mr_mask.nii.gz"):
        assert (case / name).is_file()
    assert sorted(p.name for p in (case / "ct").iterdir())[0] == "IM00001.dcm"
    assert any((case / "mr").glob("*.dcm"))
    truth = json.loads((case / "truth.json").read_text())
    for key in ("ct_point_mm", "mr_point_mm", "level", "labels", "oracle", "features", "site",
                "seed"):
        assert key in truth
    assert truth["site"] == site and truth["level"] in ("T10", "T11", "T12", "L1", "L2", "L3")
    with (folder / "labels.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["case_id", "type1", "type2", "type3", "type4", "oracle_type1",
                             "oracle_type2", "oracle_type3", "oracle_type4"]
    assert rows[0]["case_id"] == case.name
    assert [int(rows[0][f"type{t}"]) for t in range(1, 5)] == [
        truth["labels"][f"type{t}"] for t in range(1, 5)]


@pytest.mark.parametrize("site", SITES)
def test_simpleitk_reads_the_geometry_written(cases: dict[str, Path], site: str) -> None:
    case = _case_dir(cases[site])
    spec = sample_case_spec(site, 11, 0)
    for sub, grid in (("ct", ct_grid(spec, compact=True)), ("mr", mr_grid(spec, compact=True))):
        image = _read_series(case / sub)
        assert image.GetSize() == grid.shape[::-1]
        np.testing.assert_allclose(image.GetSpacing(), grid.spacing, atol=1e-4)
        np.testing.assert_allclose(image.GetOrigin(), grid.origin, atol=1e-3)
        np.testing.assert_allclose(np.reshape(image.GetDirection(), (3, 3)), grid.direction,
                                   atol=1e-5)


def test_simpleitk_reads_the_pixels_written(cases: dict[str, Path]) -> None:
    case = _case_dir(cases["internal"])
    spec = sample_case_spec("internal", 11, 0)
    for sub, render in (("ct", render_ct), ("mr", render_mr)):
        volume, _ = render(spec, compact=True)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(_read_series(case / sub)),
                                      volume.array)


def test_series_have_separate_frames_and_synthetic_identity(cases: dict[str, Path]) -> None:
    case = _case_dir(cases["internal"])
    ct = pydicom.dcmread(next((case / "ct").glob("*.dcm")), stop_before_pixels=True)
    mr = pydicom.dcmread(next((case / "mr").glob("*.dcm")), stop_before_pixels=True)
    assert ct.FrameOfReferenceUID != mr.FrameOfReferenceUID
    assert ct.Modality == "CT" and mr.Modality == "MR"
    assert str(ct.PatientName).startswith("SYNTHETIC^")
    assert ct.PatientID == mr.PatientID
    assert float(ct.SliceThickness) == pytest.approx(1.25)
    assert float(mr.SliceThickness) == pytest.approx(4.0)
    truth = json.loads((case / "truth.json").read_text())
    assert np.linalg.norm(np.subtract(truth["ct_point_mm"], truth["mr_point_mm"])) > 1.0


@pytest.mark.parametrize("site", SITES)
@pytest.mark.parametrize("modality", ["ct", "mr"])
def test_mask_body_centroid_matches_the_point(cases: dict[str, Path], site: str,
                                              modality: str) -> None:
    case = _case_dir(cases[site])
    truth = json.loads((case / "truth.json").read_text())
    mask = read_nifti(case / f"{modality}_mask.nii.gz")
    k, j, i = np.nonzero(mask.array)
    points = mask.index_to_mm(np.stack([i, j, k], axis=1).astype(float))
    point = np.asarray(truth[f"{modality}_point_mm"])
    left, posterior, superior = (np.asarray(a) for a in truth[f"{modality}_body_axes"])
    half_width, half_depth, _height = truth["body_half_axes_mm"]
    rel = points - point
    # The body is what lies in front of the canal (its posterior wall is at ~0.8 half-depths).
    body = (rel @ posterior < 0.8 * half_depth) & (np.abs(rel @ left) < half_width + 1)
    assert body.sum() > 100
    assert np.linalg.norm(points[body].mean(axis=0) - point) < 2.0
    # ...and the mask also holds the posterior elements, well behind the body.
    assert (rel @ posterior).max() > half_depth + 25.0


def test_same_seed_same_bytes_other_seed_other_pixels(tmp_path: Path) -> None:
    write_case(tmp_path / "a", "external", 5, 2, compact=True)
    write_case(tmp_path / "b", "external", 5, 2, compact=True)
    (a,) = (tmp_path / "a").iterdir()
    (b,) = (tmp_path / "b").iterdir()
    files = sorted(p.relative_to(a) for p in a.rglob("*.dcm"))
    assert files and files == sorted(p.relative_to(b) for p in b.rglob("*.dcm"))
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes()
    other, _ = render_ct(sample_case_spec("external", 6, 2), compact=True)
    written = pydicom.dcmread(a / "ct" / "IM00010.dcm")
    hu = written.pixel_array * float(written.RescaleSlope) + float(written.RescaleIntercept)
    assert hu.shape == other.array[9].shape
    assert np.abs(hu - other.array[9]).mean() > 5.0  # other patient, other noise


def test_full_size_grids_follow_the_protocol() -> None:
    spec = sample_case_spec("internal", 1, 0)
    external = sample_case_spec("external", 1, 0)
    assert mr_grid(spec, compact=False).shape[1:] == (320, 256)
    assert mr_grid(external, compact=False).shape[1:] == (384, 326)
    assert mr_grid(spec, compact=False).spacing[2] == pytest.approx(4.0)


def _first_case(site: str, predicate: object, limit: int = 400) -> int:
    for index in range(limit):
        spec = sample_case_spec(site, 21, index)
        if predicate(spec.features):  # type: ignore[operator]
            return index
    raise AssertionError("no case with the wanted feature")


def _mean_near(volume: Volume, point_mm: np.ndarray, radius_mm: float) -> float:
    """Mean voxel value within ``radius_mm`` of a point (voxel centres)."""
    centre = volume.mm_to_index(point_mm)
    reach = np.ceil(radius_mm / np.asarray(volume.spacing)).astype(int) + 1
    lo = np.maximum(np.floor(centre).astype(int) - reach, 0)
    hi = np.minimum(np.ceil(centre).astype(int) + reach + 1, volume.size_ijk)
    i, j, k = np.meshgrid(*(np.arange(lo[a], hi[a]) for a in range(3)), indexing="ij")
    ijk = np.stack([i.ravel(), j.ravel(), k.ravel()], axis=1).astype(float)
    near = np.linalg.norm(volume.index_to_mm(ijk) - point_mm, axis=1) <= radius_mm
    return float(volume.array[k.ravel()[near], j.ravel()[near], i.ravel()[near]].mean())


def test_cortical_defect_is_visible_on_ct() -> None:
    index = _first_case("internal", lambda f: f.wall_defect_site in ("left", "right")
                        and f.wall_defect_mm >= 7)
    spec = sample_case_spec("internal", 21, index)
    ct, _ = render_ct(spec, compact=True)
    target = spec.anatomy.target
    surface = np.array(spec.fracture.wall_defect_center)
    # Sample half a millimetre inside the outer surface: the middle of the cortical shell.
    inward = -np.array([surface[0], surface[1], 0.0]) / np.hypot(surface[0], surface[1])
    centre = surface + 0.5 * inward
    mirrored = centre * np.array([-1.0, 1.0, 1.0])
    defect_hu = _mean_near(ct, target.to_anatomy(centre[None])[0], 1.0)
    intact_hu = _mean_near(ct, target.to_anatomy(mirrored[None])[0], 1.0)
    # Intact osteoporotic cortex reads a few hundred HU; a defect filled with haematoma and
    # soft tissue reads like soft tissue / marrow (well under 200 HU).
    assert intact_hu > 200
    assert defect_hu < intact_hu - 120


def test_cleft_fluid_is_bright_on_t2() -> None:
    index = _first_case("internal", lambda f: f.cleft_mm >= 10)
    spec = sample_case_spec("internal", 21, index)
    mr, _ = render_mr(spec, compact=True)
    target = spec.anatomy.target
    cleft = target.to_anatomy(np.array(spec.fracture.cleft_center)[None])[0]
    csf_like = _mean_near(mr, spec.mr_rotation @ cleft + spec.mr_translation, 1.5)
    neighbour = spec.anatomy.vertebrae[spec.anatomy.target_index + 1]
    marrow = _mean_near(mr, spec.mr_rotation @ np.asarray(neighbour.center)
                        + spec.mr_translation, 3.0)
    # Fluid (T2 ~ CSF) is far brighter than fatty osteoporotic marrow (about half as bright).
    assert csf_like > 1.5 * marrow


def test_bad_settings_raise_phantom_error(tmp_path: Path) -> None:
    with pytest.raises(PhantomError, match="unknown site"):
        synthesize(tmp_path, 1, "mars", 1)
    with pytest.raises(PhantomError, match="--cases"):
        synthesize(tmp_path, 0, "internal", 1)
    with pytest.raises(PhantomError, match="seed"):
        sample_case_spec("internal", -1, 0)


def test_oedema_is_bright_on_t2_and_invisible_on_ct() -> None:
    index = _first_case("internal", lambda f: f.oedema_extent > 0.8 and f.cleft_mm == 0
                        and f.fracture_type == "wedge" and f.vein_channels == 0)
    spec = sample_case_spec("internal", 21, index)
    target = spec.anatomy.target
    # 7 mm under the fractured superior endplate, in the middle of the body: oedematous marrow.
    inside = target.to_anatomy(np.array([[0.0, -0.3 * target.half_depth,
                                          spec.fracture.top_center - 7.0]]))[0]
    neighbour = spec.anatomy.vertebrae[spec.anatomy.target_index + 1]
    mr, _ = render_mr(spec, compact=True)
    to_mr = spec.mr_rotation, spec.mr_translation
    oedema_t2 = _mean_near(mr, to_mr[0] @ inside + to_mr[1], 2.0)
    marrow_t2 = _mean_near(mr, to_mr[0] @ np.asarray(neighbour.center) + to_mr[1], 3.0)
    assert oedema_t2 > 1.3 * marrow_t2
    ct, _ = render_ct(spec, compact=True)
    # On CT the oedematous marrow reads as the patient's bone density (no oedema contrast).
    assert abs(_mean_near(ct, inside, 2.0) - spec.features.bone_density_hu) < 20.0


def test_parallel_run_writes_what_a_serial_run_writes(tmp_path: Path) -> None:
    rows_serial = synthesize(tmp_path / "serial", 2, "external", 4, compact=True, workers=1)
    rows_pool = synthesize(tmp_path / "pool", 2, "external", 4, compact=True, workers=2)
    assert rows_serial == rows_pool
    assert (tmp_path / "serial" / "labels.csv").read_bytes() == (
        tmp_path / "pool" / "labels.csv").read_bytes()
    case = rows_serial[1]["case_id"]
    for path in sorted((tmp_path / "serial" / case / "mr").iterdir()):
        assert path.read_bytes() == (tmp_path / "pool" / case / "mr" / path.name).read_bytes()

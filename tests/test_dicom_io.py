"""DICOM series reading: geometry against SimpleITK, pixel values against hand calculation."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from dicom_factory import (
    AXIAL,
    CORONAL,
    SAGITTAL,
    enhanced_ct,
    oblique,
    ramp,
    write_series,
)
from pydicom.data import get_testdata_file
from pydicom.uid import JPEG2000Lossless, RLELossless, generate_uid

from bcl_core.errors import AmbiguousSeriesError, NoImagesError, SeriesError
from bcl_core.io import SeriesInfo, inspect_input, load_volume, open_input, scan_files


def _sitk_read(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def _codes(info: SeriesInfo) -> set[str]:
    return {problem.code for problem in info.problems}


# --- geometry and values against SimpleITK --------------------------------------------------
@pytest.mark.parametrize("direction", [AXIAL, SAGITTAL, CORONAL, oblique()],
                         ids=["axial", "sagittal", "coronal", "oblique"])
def test_geometry_and_values_match_simpleitk(tmp_path: Path, direction: np.ndarray) -> None:
    stored = ramp((6, 9, 11))
    write_series(tmp_path, stored, direction=direction, spacing=(0.8, 0.7, 1.25),
                 intercept=-1024)
    volume = load_volume(tmp_path)
    image = _sitk_read(tmp_path)
    np.testing.assert_array_equal(volume.array, sitk.GetArrayFromImage(image))
    np.testing.assert_allclose(volume.spacing, image.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(volume.origin, image.GetOrigin(), atol=1e-5)
    np.testing.assert_allclose(volume.direction.ravel(), image.GetDirection(), atol=1e-6)
    for ijk in [(0, 0, 0), (10, 8, 5), (3, 4, 2)]:
        np.testing.assert_allclose(volume.index_to_mm(ijk),
                                   image.TransformIndexToPhysicalPoint(ijk), atol=1e-5)


def test_values_are_stored_times_slope_plus_intercept(tmp_path: Path) -> None:
    stored = ramp((4, 5, 6), high=4000)
    write_series(tmp_path, stored, slope=2.5, intercept=-1000, BitsStored=12)
    volume = load_volume(tmp_path)
    np.testing.assert_allclose(volume.array, stored * 2.5 - 1000)
    assert volume.array.dtype == np.float32


def test_ct_hounsfield_units_fit_int16(tmp_path: Path) -> None:
    stored = ramp((3, 4, 5), high=4096)
    write_series(tmp_path, stored, intercept=-1024, BitsStored=12)
    volume = load_volume(tmp_path)
    assert volume.array.dtype == np.int16
    np.testing.assert_array_equal(volume.array, stored.astype(int) - 1024)
    assert volume.array.min() >= -1024


def test_per_slice_rescale(tmp_path: Path) -> None:
    stored = ramp((3, 4, 5))
    per_slice = [{"RescaleSlope": "1", "RescaleIntercept": str(b)} for b in (-1024, -1000, 0)]
    write_series(tmp_path, stored, per_slice=per_slice, shuffle=False)
    expected = stored.astype(int) + np.array([-1024, -1000, 0])[:, None, None]
    np.testing.assert_array_equal(load_volume(tmp_path).array, expected)


def test_slice_spacing_comes_from_positions_not_thickness(tmp_path: Path) -> None:
    write_series(tmp_path, ramp((5, 4, 4)), spacing=(0.5, 0.5, 3.0), SliceThickness=1.0)
    assert load_volume(tmp_path).spacing[2] == pytest.approx(3.0)


def test_slices_sorted_by_position_not_instance_number(tmp_path: Path) -> None:
    stored = ramp((5, 4, 4))
    # Instance numbers in reverse of the true order along the normal.
    per_slice = [{"InstanceNumber": 5 - k} for k in range(5)]
    write_series(tmp_path, stored, per_slice=per_slice)
    np.testing.assert_array_equal(load_volume(tmp_path).array, stored)


def test_monochrome1_is_inverted(tmp_path: Path) -> None:
    stored = ramp((3, 4, 4), high=4096)
    write_series(tmp_path, stored, BitsStored=12, PhotometricInterpretation="MONOCHROME1")
    volume = load_volume(tmp_path)
    # Hand calculation: 12 stored bits, so v -> 4095 - v, then rescale (identity here).
    np.testing.assert_array_equal(volume.array, 4095 - stored.astype(int))


def test_signed_pixels(tmp_path: Path) -> None:
    stored = np.random.default_rng(1).integers(-2000, 3000, (3, 5, 5)).astype(np.int16)
    write_series(tmp_path, stored)
    np.testing.assert_array_equal(load_volume(tmp_path).array, stored)


# --- multi-frame and compressed -------------------------------------------------------------
def test_enhanced_multiframe_ct(tmp_path: Path) -> None:
    stored = ramp((5, 6, 7))
    positions = np.array([[10.0, 20.0, 30.0 + 2.0 * k] for k in range(5)])[::-1]
    ds = enhanced_ct(stored[::-1], positions, pixel_spacing_ij=(0.6, 0.7))
    ds.save_as(tmp_path / "enhanced.dcm", enforce_file_format=True)
    volume = load_volume(tmp_path)
    np.testing.assert_array_equal(volume.array, stored.astype(int) - 1024)
    assert volume.spacing == pytest.approx((0.6, 0.7, 2.0))
    np.testing.assert_allclose(volume.origin, (10.0, 20.0, 30.0))


def _reference_pixels(name: str) -> np.ndarray:
    """Raw bytes of the uncompressed file, interpreted by numpy alone (no decoder)."""
    ds = pydicom.dcmread(get_testdata_file(name))
    dtype = "<i2" if ds.PixelRepresentation else "<u2"
    return np.frombuffer(ds.PixelData, dtype=dtype).reshape(ds.Rows, ds.Columns)


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "MR_small_jp2klossless.dcm",
                                  "MR_small_jpeg_ls_lossless.dcm", "MR_small_bigendian.dcm",
                                  "MR_small_implicit.dcm", "MR_small_expb.dcm"])
def test_compressed_and_other_syntaxes_decode(tmp_path: Path, name: str) -> None:
    shutil.copy(get_testdata_file(name), tmp_path / "x.dcm")
    volume = load_volume(tmp_path)
    np.testing.assert_array_equal(volume.array[0], _reference_pixels("MR_small.dcm"))


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless], ids=["rle", "j2k"])
def test_compressed_series(tmp_path: Path, syntax: str) -> None:
    stored = ramp((4, 64, 64), high=4000)
    paths = write_series(tmp_path, stored, intercept=-1024, BitsStored=12)
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.compress(syntax)
        ds.save_as(path, enforce_file_format=True)
    volume = load_volume(tmp_path)
    np.testing.assert_array_equal(volume.array, stored.astype(int) - 1024)
    assert "Lossless" in volume.metadata["transfer_syntaxes"] or "RLE" in \
        volume.metadata["transfer_syntaxes"]


# --- checks: repair or refuse --------------------------------------------------------------
def test_mixed_matrix_sizes_are_split(tmp_path: Path) -> None:
    uid = generate_uid()
    write_series(tmp_path, ramp((4, 8, 8)), series_uid=uid, prefix="a")
    write_series(tmp_path, ramp((3, 6, 6)), series_uid=uid, prefix="b", origin=(0, 0, 200))
    with open_input(tmp_path) as files:
        scan = scan_files(files)
    assert sorted(info.n_slices for info in scan.series) == [3, 4]
    assert all("mixed_series" in _codes(info) for info in scan.series)
    with pytest.raises(AmbiguousSeriesError, match="2 image series"):
        load_volume(tmp_path)
    assert load_volume(tmp_path, series=1).n_slices in (3, 4)


def test_missing_slice_is_refused(tmp_path: Path) -> None:
    paths = write_series(tmp_path, ramp((8, 4, 4)), shuffle=False)
    paths[3].unlink()
    with open_input(tmp_path) as files:
        (info,) = scan_files(files).series
    assert info.refused and "missing_slices" in _codes(info)
    with pytest.raises(SeriesError, match="1 slice.*missing.*after slice 3"):
        load_volume(tmp_path)


def test_duplicate_copy_is_read_once(tmp_path: Path) -> None:
    stored = ramp((5, 4, 4))
    paths = write_series(tmp_path, stored, shuffle=False)
    shutil.copy(paths[2], tmp_path / "copy_of_slice.dcm")
    volume = load_volume(tmp_path)
    np.testing.assert_array_equal(volume.array, stored)
    assert any("duplicate" in text for text in volume.metadata["repairs"])


def test_different_images_at_one_position_are_refused(tmp_path: Path) -> None:
    uid = generate_uid()
    write_series(tmp_path, ramp((5, 4, 4)), series_uid=uid, prefix="a")
    write_series(tmp_path, ramp((5, 4, 4), seed=3), series_uid=uid, prefix="b")
    with pytest.raises(SeriesError, match="share a slice position"):
        load_volume(tmp_path)


def test_non_uniform_spacing_is_resampled(tmp_path: Path) -> None:
    z = np.array([0.0, 1.0, 2.0, 3.5, 4.5, 5.0, 6.0])  # irregular, not whole multiples
    stored = np.broadcast_to((100 + 20 * z)[:, None, None], (7, 4, 4)).astype(np.uint16)
    positions = np.array([[0.0, 0.0, zk] for zk in z])
    write_series(tmp_path, stored, positions=positions)
    volume = load_volume(tmp_path)
    assert volume.spacing[2] == pytest.approx(1.0)
    assert volume.n_slices == 7
    # The value is linear in z, so linear interpolation must give 100 + 20 z exactly.
    expected = 100 + 20 * np.arange(7.0)
    np.testing.assert_allclose(volume.array[:, 2, 2], expected, atol=0.5)
    assert any("resampled" in text for text in volume.metadata["repairs"])


def test_gantry_tilt_is_corrected_in_patient_space(tmp_path: Path) -> None:
    tilt = np.radians(15.0)
    row = np.array([1.0, 0.0, 0.0])
    column = np.array([0.0, np.cos(tilt), np.sin(tilt)])
    direction = np.column_stack([row, column, np.cross(row, column)])
    n_k, n_j, n_i = 12, 40, 30
    spacing_ij = (1.0, 1.0)
    table_step = 2.0  # the table moves along z; the image planes are tilted
    positions = np.array([[-15.0, -20.0, k * table_step] for k in range(n_k)])

    def field(points: np.ndarray) -> np.ndarray:  # a value linear in patient mm
        return 1000 + 3 * points[..., 0] + 5 * points[..., 1] + 7 * points[..., 2]

    jj, ii = np.mgrid[0:n_j, 0:n_i]
    stored = np.empty((n_k, n_j, n_i), np.uint16)
    for k in range(n_k):
        points = (positions[k] + ii[..., None] * spacing_ij[0] * row
                  + jj[..., None] * spacing_ij[1] * column)
        stored[k] = np.rint(field(points))
    write_series(tmp_path, stored, positions=positions, direction=direction,
                 spacing=(*spacing_ij, 0.0), GantryDetectorTilt=15)
    with open_input(tmp_path) as files:
        (info,) = scan_files(files).series
    assert "gantry_tilt" in _codes(info)
    assert "15.0 degrees" in next(p.message for p in info.problems if p.code == "gantry_tilt")
    volume = load_volume(tmp_path)
    assert volume.spacing[2] == pytest.approx(table_step * np.cos(tilt), abs=1e-4)
    # Every voxel must hold the field's value at the voxel's own patient position.
    k, j, i = np.mgrid[1:n_k - 1, 12:n_j - 2, 2:n_i - 2]
    ijk = np.stack([i, j, k], axis=-1).reshape(-1, 3)
    expected = field(volume.index_to_mm(ijk))
    got = volume.array[ijk[:, 2], ijk[:, 1], ijk[:, 0]]
    np.testing.assert_allclose(got, expected, atol=1.0)


def test_missing_geometry_is_refused(tmp_path: Path) -> None:
    write_series(tmp_path, ramp((4, 4, 4)), ImagePositionPatient=None)
    with open_input(tmp_path) as files:
        (info,) = scan_files(files).series
    assert "missing_geometry" in _codes(info) and not info.fit_for_prediction
    with pytest.raises(SeriesError, match="ImagePositionPatient"):
        load_volume(tmp_path)


def test_truncated_pixel_data_is_refused(tmp_path: Path) -> None:
    paths = write_series(tmp_path, ramp((5, 16, 16)), shuffle=False)
    data = paths[2].read_bytes()
    paths[2].write_bytes(data[: len(data) - 100])
    with pytest.raises(SeriesError, match=r"im0002.dcm is truncated"):
        load_volume(tmp_path)


def test_truncated_header_is_set_aside(tmp_path: Path) -> None:
    paths = write_series(tmp_path, ramp((5, 4, 4)), shuffle=False)
    paths[4].write_bytes(paths[4].read_bytes()[:300])  # the last slice: no gap left behind
    with open_input(tmp_path) as files:
        scan = scan_files(files)
    assert scan.skipped == [("im0004.dcm", "damaged or truncated DICOM file")]
    assert load_volume(tmp_path).n_slices == 4


def test_pydicom_truncated_file_is_refused(tmp_path: Path) -> None:
    shutil.copy(get_testdata_file("MR_truncated.dcm"), tmp_path / "x.dcm")
    with pytest.raises(SeriesError, match="truncated"):
        load_volume(tmp_path)


def test_non_dicom_files_are_ignored(tmp_path: Path) -> None:
    write_series(tmp_path / "ct", ramp((4, 4, 4)))
    (tmp_path / "README.txt").write_text("exported by PACS")
    (tmp_path / "noise.dcm").write_bytes(np.random.default_rng(0).bytes(5000))
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x01")
    shutil.copy(get_testdata_file("test-SR.dcm"), tmp_path / "report.dcm")
    with open_input(tmp_path) as files:
        scan = scan_files(files)
    assert len(scan.series) == 1
    assert dict(scan.skipped) == {"README.txt": "not DICOM", "noise.dcm": "not DICOM",
                                  "report.dcm": "DICOM without an image"}


@pytest.mark.parametrize("content", ["empty", "text", "report"])
def test_folder_without_images(tmp_path: Path, content: str) -> None:
    if content == "text":
        (tmp_path / "a.txt").write_text("hello")
    if content == "report":
        shutil.copy(get_testdata_file("test-SR.dcm"), tmp_path / "sr.dcm")
    with pytest.raises(NoImagesError, match="holds no files|No DICOM images"):
        load_volume(tmp_path)


def test_colour_images_are_refused(tmp_path: Path) -> None:
    shutil.copy(get_testdata_file("SC_rgb_rle.dcm"), tmp_path / "rgb.dcm")
    with open_input(tmp_path) as files:
        (info,) = scan_files(files).series
    assert "colour_images" in _codes(info)


def test_multi_echo_series_split_by_echo(tmp_path: Path) -> None:
    uid = generate_uid()
    for echo in (1, 2):
        write_series(tmp_path, ramp((5, 4, 4), seed=echo), series_uid=uid, modality="MR",
                     direction=SAGITTAL, prefix=f"e{echo}", EchoNumbers=echo)
    with open_input(tmp_path) as files:
        scan = scan_files(files)
    assert len(scan.series) == 2 and all("echoes" in info.problems[0].message
                                         for info in scan.series)


# --- inputs: file lists, uploads ----------------------------------------------------------------
class _Upload:
    def __init__(self, name: str, data: bytes) -> None:
        self.name = name
        self._data = data

    def getvalue(self) -> bytes:
        return self._data


def test_file_list_and_in_memory_uploads(tmp_path: Path) -> None:
    stored = ramp((4, 5, 5))
    paths = write_series(tmp_path, stored)
    np.testing.assert_array_equal(load_volume([str(p) for p in paths]).array, stored)
    uploads = [_Upload(p.name, p.read_bytes()) for p in paths]
    np.testing.assert_array_equal(load_volume(uploads).array, stored)
    pairs = [(p.name, p.read_bytes()) for p in paths]
    np.testing.assert_array_equal(load_volume(pairs).array, stored)


# --- classification -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("modality", "direction", "attributes", "role", "weighting", "fit"),
    [
        ("CT", AXIAL, {}, "ct_axial", None, True),
        ("MR", SAGITTAL, {"SeriesDescription": "T2_TSE_SAG"}, "mr_sagittal", "T2", True),
        ("MR", SAGITTAL, {"SeriesDescription": "sag", "EchoTime": 100, "RepetitionTime": 3000},
         "mr_sagittal", "T2", True),
        ("MR", SAGITTAL, {"SeriesDescription": "SAG T1 TSE"}, "mr_sagittal", "T1", False),
        ("MR", SAGITTAL, {"SeriesDescription": "sag STIR"}, "mr_sagittal", "STIR", False),
        ("MR", AXIAL, {"SeriesDescription": "T2 AX"}, "other", "T2", False),
        ("CT", SAGITTAL, {}, "other", None, False),
    ],
)
def test_classification(tmp_path: Path, modality: str, direction: np.ndarray,
                        attributes: dict, role: str, weighting: str | None, fit: bool) -> None:
    write_series(tmp_path, ramp((12, 4, 4)), modality=modality, direction=direction,
                 **attributes)
    scan = inspect_input(tmp_path)
    (info,) = scan.series
    assert (info.role, info.weighting, info.fit_for_prediction) == (role, weighting, fit)
    assert info.decoded is True


def test_single_slice_is_listed_but_unfit(tmp_path: Path) -> None:
    write_series(tmp_path, ramp((1, 4, 4)))
    (info,) = inspect_input(tmp_path).series
    assert info.decoded and not info.fit_for_prediction
    assert "only 1 slice" in (info.unfit_reason or "")


# --- the project's own writer (synthetic cases) round-trips --------------------------------
@pytest.mark.parametrize(("modality", "direction"), [("CT", AXIAL), ("MR", SAGITTAL)])
def test_project_writer_round_trip(tmp_path: Path, modality: str, direction: np.ndarray) -> None:
    from bcl_core.io.dicom_write import SyntheticPatient, make_uid
    from bcl_core.io.dicom_write import write_series as write_volume
    from bcl_core.volume import Volume

    rng = np.random.default_rng(5)
    low, high = (-1024, 2000) if modality == "CT" else (0, 1500)
    values = rng.integers(low, high, size=(7, 10, 12)).astype(np.int16)
    volume = Volume(values, spacing=(0.7, 0.8, 1.25), origin=(-50.0, 10.0, 200.0),
                    direction=direction, modality=modality)
    write_volume(volume, tmp_path, patient=SyntheticPatient("SYNTH-1", "SYNTHETIC^ONE"),
                 series_description="t2_tse_sag" if modality == "MR" else "ct",
                 series_number=2, study_uid=make_uid("s"), series_uid=make_uid("se"),
                 frame_of_reference_uid=make_uid("f"), uid_seed="x")
    loaded = load_volume(tmp_path)
    np.testing.assert_array_equal(loaded.array, values)
    assert loaded.same_grid(volume)
    assert loaded.modality == modality


@pytest.mark.parametrize("implicit", [True, False], ids=["implicit", "explicit"])
def test_files_without_preamble_or_meta(tmp_path: Path, implicit: bool) -> None:
    stored = ramp((3, 6, 6))
    paths = write_series(tmp_path, stored, shuffle=False)
    for path in paths:
        ds = pydicom.dcmread(path)
        del ds.file_meta
        ds.preamble = None
        ds.save_as(path, implicit_vr=implicit, little_endian=True, enforce_file_format=False)
        assert path.read_bytes()[:2] == b"\x08\x00"  # starts with a group-0008 element
    np.testing.assert_array_equal(load_volume(tmp_path).array, stored)


# --- declared geometry that must not be trusted (issue 16) ----------------------------------
def _scan_one(folder: Path) -> SeriesInfo:
    (info,) = inspect_input(folder).series
    return info


def test_rows_smaller_than_the_pixel_data_is_refused(tmp_path: Path) -> None:
    # 8 x 8 pixels stored, but the header says 4 rows: 128 bytes where 4 x 8 x 2 = 64.
    write_series(tmp_path, ramp((12, 8, 8)), Rows=4)
    info = _scan_one(tmp_path)
    assert not info.fit_for_prediction and info.decoded is None  # refused before decoding
    assert "pixel_data_size" in _codes(info)
    assert "holds 128 bytes" in info.unfit_reason and "accounts for 64" in info.unfit_reason  # type: ignore[operator]
    with pytest.raises(SeriesError, match="Rows and Columns"):
        load_volume(tmp_path)


def test_rows_smaller_than_the_pixel_data_is_refused_when_pydicom_decodes(
        tmp_path: Path) -> None:
    # Deflated files are decoded by pydicom, not read in place: the same check applies there.
    paths = write_series(tmp_path, ramp((12, 8, 8)), Rows=4)
    for path in paths:
        dataset = pydicom.dcmread(path)
        dataset.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
        dataset.save_as(path, enforce_file_format=True)
    info = _scan_one(tmp_path)
    assert not info.fit_for_prediction and info.decoded is False
    assert "holds 128 bytes" in info.unfit_reason  # type: ignore[operator]


def test_gap_wider_than_twice_the_spacing_is_refused_not_interpolated(tmp_path: Path) -> None:
    # 1.25 mm steps with one 12.7 mm gap between slices 6 and 7 (not a whole multiple of
    # 1.25, so not "missing slices"); it starts 5 x 1.25 = 6.25 mm from the first slice.
    steps = [1.25] * 5 + [12.7] + [1.25] * 6
    z = np.concatenate([[0.0], np.cumsum(steps)])
    write_series(tmp_path, ramp((13, 4, 4)), positions=np.array([[0.0, 0.0, v] for v in z]))
    info = _scan_one(tmp_path)
    assert not info.fit_for_prediction and "slice_gap" in _codes(info)
    assert "non_uniform_spacing" not in _codes(info)
    reason = info.unfit_reason or ""
    assert "gap of 12.70 mm between slices 6 and 7 (6.25 mm from the first slice)" in reason
    assert "usual 1.25 mm" in reason
    with pytest.raises(SeriesError, match="not filled in by interpolation"):
        load_volume(tmp_path)


def test_step_under_twice_the_spacing_is_still_interpolated(tmp_path: Path) -> None:
    # 2.4 mm in a 1.25 mm series is 1.92 times the spacing: repaired, as before.
    steps = [1.25] * 5 + [2.4] + [1.25] * 6
    z = np.concatenate([[0.0], np.cumsum(steps)])
    write_series(tmp_path, ramp((13, 4, 4)), positions=np.array([[0.0, 0.0, v] for v in z]))
    info = _scan_one(tmp_path)
    assert info.fit_for_prediction and "non_uniform_spacing" in _codes(info)


@pytest.mark.parametrize("x_text", ["1e+300", "-1.0E300"])
def test_slice_positions_at_1e300_are_refused(tmp_path: Path, x_text: str) -> None:
    # Written as scanners write big DS values (exponent form, within 16 characters).
    positions = [{"ImagePositionPatient": [x_text, "0", f"{1.25 * k:g}"]} for k in range(12)]
    write_series(tmp_path, ramp((12, 4, 4)), per_slice=positions)
    info = _scan_one(tmp_path)
    assert not info.fit_for_prediction and "implausible_position" in _codes(info)
    assert "12 of 12 images state a position 1e+300 mm" in (info.unfit_reason or "")


def test_deflated_series_loads(tmp_path: Path) -> None:
    # Deflated files used to be set aside as truncated: inflating consumes the whole stream.
    stored = ramp((4, 8, 8))
    for path in write_series(tmp_path, stored, shuffle=False):
        dataset = pydicom.dcmread(path)
        dataset.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
        dataset.save_as(path, enforce_file_format=True)
    np.testing.assert_array_equal(load_volume(tmp_path).array, stored)

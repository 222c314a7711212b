"""DICOM writing checked by reading back with SimpleITK (independent reader)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from bcl_core.errors import InputError
from bcl_core.io.dicom_write import SyntheticPatient, make_uid, write_series
from bcl_core.volume import Volume

PATIENT = SyntheticPatient(patient_id="SYNTH-0001", patient_name="SYNTHETIC^CASE0001")
# Sagittal as scanners write it: rows A->P, columns head->feet, slices along row x column (R).
SAGITTAL = np.array([[0, 0, -1], [1, 0, 0], [0, -1, 0]], float)
LEFT_HANDED_SAGITTAL = np.array([[0, 0, 1], [1, 0, 0], [0, -1, 0]], float)


def _write(volume: Volume, folder: Path) -> list[Path]:
    return write_series(
        volume, folder, patient=PATIENT, series_description="test", series_number=3,
        study_uid=make_uid("study"), series_uid=make_uid("series", volume.modality),
        frame_of_reference_uid=make_uid("for"), window_presets=[(40, 400), (300, 1500)],
        uid_seed="seed",
    )


def _read_sitk(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


@pytest.mark.parametrize("direction", [np.eye(3), SAGITTAL])
def test_ct_roundtrip_through_simpleitk(tmp_path: Path, direction: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    hu = rng.integers(-1024, 2000, size=(6, 10, 12)).astype(np.int16)
    volume = Volume(hu, spacing=(0.7, 0.8, 1.25), origin=(-100.5, 20.25, 300.0),
                    direction=direction, modality="CT")
    paths = _write(volume, tmp_path)
    assert len(paths) == 6
    image = _read_sitk(tmp_path)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), hu)
    np.testing.assert_allclose(image.GetSpacing(), volume.spacing, atol=1e-6)
    np.testing.assert_allclose(image.GetOrigin(), volume.origin, atol=1e-6)
    np.testing.assert_allclose(np.reshape(image.GetDirection(), (3, 3)), direction, atol=1e-6)
    header = pydicom.dcmread(paths[0], stop_before_pixels=True)
    assert header.Modality == "CT"
    assert float(header.RescaleIntercept) == -1024.0
    assert header.PatientName == "SYNTHETIC^CASE0001"


def test_left_handed_volume_reads_back_at_the_same_positions(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    hu = rng.integers(-1000, 1000, size=(5, 6, 7)).astype(np.int16)
    volume = Volume(hu, spacing=(0.9, 1.1, 3.0), origin=(10, 20, 30),
                    direction=LEFT_HANDED_SAGITTAL, modality="CT")
    _write(volume, tmp_path)
    image = _read_sitk(tmp_path)
    for k, j, i in [(0, 0, 0), (4, 5, 6), (2, 3, 1)]:
        # The voxel SimpleITK finds at our voxel's physical position holds the same value.
        position = volume.index_to_mm((i, j, k))
        index = image.TransformPhysicalPointToIndex(tuple(float(x) for x in position))
        assert image[index] == hu[k, j, i]


def test_mr_is_unsigned_and_deterministic(tmp_path: Path) -> None:
    values = np.arange(2 * 4 * 5, dtype=np.float32).reshape(2, 4, 5) * 10
    volume = Volume(values, spacing=(1, 1, 4), direction=SAGITTAL, modality="MR")
    first = _write(volume, tmp_path / "a")
    second = _write(volume, tmp_path / "b")
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    ds = pydicom.dcmread(first[1])
    assert ds.PixelRepresentation == 0
    np.testing.assert_array_equal(ds.pixel_array, values[1].astype(np.uint16))


def test_other_modality_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="Only CT and MR"):
        _write(Volume(np.zeros((1, 2, 2)), modality="US"), tmp_path)

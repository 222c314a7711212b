"""Time ``bcl_core.io.load_volume`` against SimpleITK's ImageSeriesReader on the same files.

Writes a CT series (default 300 slices of 512x512, stored as a scanner does: unsigned 12-bit
values, rescale intercept -1024) to a temporary folder, then alternates the two readers
``--repeats`` times after one warm-up each (so both read from the page cache) and prints the
medians and their ratio. SimpleITK is timed with and without its own series discovery
(``GetGDCMSeriesFileNames``); ``load_volume`` always discovers, sorts and checks.

Usage::

    python benchmarks/bench_dicom_load.py [--slices 300] [--size 512] [--repeats 7] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from bcl_core.io import load_volume


def write_ct(folder: Path, slices: int, size: int, signed: bool = False) -> None:
    """A scanner-like axial CT series, one file per slice, in shuffled file-name order."""
    rng = np.random.default_rng(0)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.SOPClassUID = CTImageStorage
    ds.Modality = "CT"
    ds.PatientName, ds.PatientID = "BENCH^MARK", "BENCH"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.SeriesDescription, ds.SeriesNumber = "benchmark CT", 2
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored, ds.HighBit = (16, 15) if signed else (12, 11)
    ds.PixelRepresentation = int(signed)
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.7, 0.7]
    ds.SliceThickness = 1.25
    ds.RescaleSlope, ds.RescaleIntercept = 1, (0 if signed else -1024)
    base = rng.integers(0, 4096, size=(size, size)).astype(np.int16 if signed else np.uint16)
    order = rng.permutation(slices)
    for k in range(slices):
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [-179.0, -179.0, 100.0 - 1.25 * k]
        ds.PixelData = np.roll(base, k, axis=1).tobytes()
        ds.save_as(folder / f"IM{order[k]:05d}.dcm", enforce_file_format=True)


def read_sitk(folder: Path, discover: bool = True,
              names: tuple[str, ...] = ()) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)) if discover else names)
    return reader.Execute()


def median_seconds(function: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def run(slices: int, size: int, repeats: int, signed: bool = False) -> dict[str, float]:
    """Write the series, check both readers agree, time them alternately; returns the figures."""
    with tempfile.TemporaryDirectory(prefix="bcl-bench-") as tmp:
        folder = Path(tmp)
        write_ct(folder, slices, size, signed)
        names = tuple(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
        ours, reference = load_volume(folder), read_sitk(folder)
        np.testing.assert_array_equal(ours.array, sitk.GetArrayFromImage(reference))
        np.testing.assert_allclose(ours.origin, reference.GetOrigin(), atol=1e-4)
        timings: dict[str, list[float]] = {"bcl": [], "sitk": [], "sitk_read_only": []}
        for _ in range(repeats):  # interleaved, so drift hits all three alike
            timings["bcl"] += median_seconds(lambda: load_volume(folder), 1)
            timings["sitk"] += median_seconds(lambda: read_sitk(folder), 1)
            timings["sitk_read_only"] += median_seconds(
                lambda: read_sitk(folder, False, names), 1)
    medians = {f"{name}_median_s": statistics.median(values) for name, values in timings.items()}
    medians["ratio_bcl_over_sitk"] = medians["bcl_median_s"] / medians["sitk_median_s"]
    medians["ratio_bcl_over_sitk_read_only"] = (medians["bcl_median_s"]
                                                / medians["sitk_read_only_median_s"])
    medians.update({"slices": slices, "size": size, "repeats": repeats,
                    "dtype": str(ours.array.dtype)})
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--signed", action="store_true",
                        help="store signed 16-bit values (as bcl synth writes) instead")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = run(args.slices, args.size, args.repeats, args.signed)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{figures['slices']} slices of {figures['size']}x{figures['size']}, "
          f"{figures['repeats']} runs each, output {figures['dtype']}")
    print(f"load_volume                         median {figures['bcl_median_s']:.3f} s")
    print(f"SimpleITK discover + read           median {figures['sitk_median_s']:.3f} s")
    print(f"SimpleITK read (names given)        median {figures['sitk_read_only_median_s']:.3f} s")
    print(f"ratio load_volume / SimpleITK       {figures['ratio_bcl_over_sitk']:.2f} "
          f"(read only: {figures['ratio_bcl_over_sitk_read_only']:.2f}; target <= 1.5)")


if __name__ == "__main__":
    main()

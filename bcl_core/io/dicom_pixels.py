"""Decode the pixel data of sorted slices into one array, then apply the modality transform.

Uncompressed little-endian frames are read straight from the file into their place in the
output array (one ``readinto`` per slice, no intermediate copies); everything else (JPEG,
JPEG-LS, JPEG 2000, RLE, deflate, big endian, odd bit depths) goes through pydicom and its
pylibjpeg plugins. Rescale slope / intercept are applied per slice, and MONOCHROME1 images are
inverted so that a higher value is always brighter.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Sequence
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray
from pydicom import dcmread
from pydicom.uid import RLELossless

from bcl_core.errors import SeriesError, UnsafeArchiveError
from bcl_core.io.archive import MEMBER_READ_ERRORS
from bcl_core.io.dicom_headers import (
    PIXEL_DATA_TAG,
    PIXEL_ELEMENT_HEADER_BYTES,
    UNDEFINED_LENGTH,
    SliceHeader,
    parse_pixel_element,
)
from bcl_core.io.quiet import quiet_pydicom

logger = logging.getLogger(__name__)

#: Errors reading a file from a zip archive raises when the archive is damaged.
_ARCHIVE_READ_ERRORS: tuple[type[BaseException], ...] = (*MEMBER_READ_ERRORS, UnsafeArchiveError)


def _stored_dtype(header: SliceHeader) -> np.dtype[Any]:
    kind = "i" if header.pixel_signed else "u"
    return np.dtype(f"<{kind}{max(1, header.bits_allocated // 8)}")


def _truncated(header: SliceHeader) -> SeriesError:
    return SeriesError(
        f"The file {header.file.name} is truncated (its image data ends early), so the series "
        "is incomplete; copy or export the series again from the scanner or PACS."
    )


def _mismatch(header: SliceHeader, reason: str) -> SeriesError:
    return SeriesError(
        f"{reason}: the image size in the header is wrong, so the image cannot be read "
        "correctly; export the series again from the scanner or PACS."
    )


def _read_native(header: SliceHeader, stream: BinaryIO, out: NDArray[Any]) -> bool:
    """Read one uncompressed frame from the open file into ``out``.

    Returns ``False`` if the layout is not the expected one (then pydicom decodes the file).
    """
    assert header.pixel_offset is not None
    frame_bytes = out.nbytes
    stream.seek(header.pixel_offset)
    element = stream.read(PIXEL_ELEMENT_HEADER_BYTES)
    if len(element) < 8:
        raise _truncated(header)
    parsed = parse_pixel_element(element, header.transfer_syntax)
    if parsed is None:
        if element.startswith(PIXEL_DATA_TAG):
            raise _truncated(header)  # the file ends inside the element's header
        return False
    length, header_bytes = parsed
    if length == UNDEFINED_LENGTH:
        return False  # encapsulated after all: let pydicom decide
    if length < frame_bytes * header.n_frames:
        raise _truncated(header)
    stream.seek(header.pixel_offset + header_bytes + header.frame * frame_bytes)
    # ``out.data`` is ``memoryview(out)`` (numpy's stubs give ndarray the buffer protocol on
    # Python >= 3.12 only). typing.BinaryIO declares no readinto, but every stream
    # FileRef.open returns (file, BytesIO, ZipExtFile) is an io.BufferedIOBase that has it.
    read = stream.readinto(out.data.cast("B"))  # type: ignore[attr-defined]
    if read != frame_bytes:
        raise _truncated(header)
    return True


def _decode_with_pydicom(header: SliceHeader) -> NDArray[Any]:
    """All frames of one file, shape ``(frames, rows, columns)``."""
    try:
        with quiet_pydicom(), header.file.open() as stream:
            dataset = dcmread(stream)
            if header.transfer_syntax == RLELossless:
                # pydicom's own RLE decoder fails cleanly on damaged data; the Rust one
                # panics and prints a backtrace to the terminal before Python can catch it.
                dataset.pixel_array_options(decoding_plugin="pydicom")
            if not header.transfer_syntax.is_compressed and "PixelData" in dataset:
                excess = header.pixel_data_excess(len(dataset.PixelData))
                if excess is not None:
                    raise _mismatch(header, excess)
            pixels = dataset.pixel_array
    except SeriesError:
        raise
    except (EOFError, struct.error) as exc:
        raise _truncated(header) from exc
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except BaseException as exc:  # noqa: BLE001 - decoders raise many types, and the Rust
        # ones (pylibjpeg-rle) raise pyo3 PanicException, a BaseException, on damaged data.
        text = " ".join(str(exc).split())
        syntax = header.transfer_syntax
        if syntax.is_transfer_syntax and not syntax.is_compressed and "length" in text:
            # Uncompressed pixel data shorter than Rows x Columns x frames: a cut-off file.
            raise _truncated(header) from exc
        raise SeriesError(
            f"The image data in {header.file.name} ({header.transfer_syntax.name}) is damaged "
            f"or cannot be decoded ({text[:200]}); copy or export the series again, "
            "uncompressed if the problem persists."
        ) from exc
    pixels = np.asarray(pixels)
    if header.n_frames == 1 and pixels.ndim == 2:
        pixels = pixels[np.newaxis]
    if pixels.shape != (header.n_frames, header.rows, header.columns):
        raise SeriesError(
            f"The image data in {header.file.name} has shape {pixels.shape}, not the "
            f"{header.n_frames} x {header.rows} x {header.columns} its header states; the file "
            "is damaged; export the series again."
        )
    return pixels


def _stack_dtype(slices: Sequence[SliceHeader]) -> np.dtype[Any]:
    dtypes = {_stored_dtype(header) for header in slices}
    return dtypes.pop() if len(dtypes) == 1 else np.dtype(np.float64)


def _by_file(slices: Sequence[SliceHeader]) -> list[list[int]]:
    """Slice indices grouped per file (files in order of first use), frames in file order.

    Reading each file once, front to back, keeps a multi-frame file inside a zip from being
    decompressed again from its start for every frame.
    """
    groups: dict[int, list[int]] = {}
    for index, header in enumerate(slices):
        groups.setdefault(id(header.file), []).append(index)
    return [sorted(group, key=lambda i: slices[i].frame) for group in groups.values()]


def _read_file(headers: Sequence[SliceHeader], outs: Sequence[NDArray[Any]],
               dtype: np.dtype[Any]) -> None:
    """Decode the given frames of one file into ``outs`` (one array per frame)."""
    first = headers[0]
    try:
        if all(h.fast_readable and _stored_dtype(h) == dtype for h in headers):
            with first.file.open() as stream:
                if all(_read_native(header, stream, out)
                       for header, out in zip(headers, outs, strict=True)):
                    return
    except OSError as exc:
        raise SeriesError(
            f"The file {first.file.name} cannot be read ({exc.strerror or exc}); check that it "
            "is still there and readable."
        ) from exc
    except _ARCHIVE_READ_ERRORS as exc:
        raise SeriesError(
            f"The file {first.file.name} cannot be read from the zip archive (the archive is "
            "damaged); create the archive again from the images."
        ) from exc
    frames = _decode_with_pydicom(first)
    for header, out in zip(headers, outs, strict=True):
        out[...] = frames[header.frame]


def read_stored_values(slices: Sequence[SliceHeader]) -> NDArray[Any]:
    """Stored pixel values of ``slices`` (already sorted), shape ``(n, rows, columns)``.

    Raises
    ------
    SeriesError
        If a file is truncated or its pixel data cannot be decoded.
    """
    first = slices[0]
    dtype = _stack_dtype(slices)
    stack = np.empty((len(slices), first.rows, first.columns), dtype=dtype)
    for group in _by_file(slices):
        _read_file([slices[i] for i in group], [stack[i] for i in group], dtype)
    return stack


def check_decodes(slices: Sequence[SliceHeader]) -> None:
    """Decode every frame of ``slices`` one file at a time, keeping none of them.

    Memory stays at one file's frames however large the series is, so a series can be checked
    (as ``bcl inspect`` does) without holding its volume.

    Raises
    ------
    SeriesError
        As :func:`read_stored_values`.
    """
    first = slices[0]
    dtype = _stack_dtype(slices)
    scratch = np.empty((first.rows, first.columns), dtype=dtype)
    for group in _by_file(slices):
        _read_file([slices[i] for i in group], [scratch] * len(group), dtype)


def _stored_range(header: SliceHeader) -> tuple[int, int]:
    """Smallest and largest stored value that BitsStored allows."""
    bits = max(1, min(header.bits_stored, header.bits_allocated))
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if header.pixel_signed else (0, 2**bits - 1)


def _integer_range(slices: Sequence[SliceHeader]) -> tuple[float, float]:
    """Smallest and largest value the stored bits allow, after rescale, over all slices."""
    low, high = np.inf, -np.inf
    for header in slices:
        values = [v * header.rescale_slope + header.rescale_intercept
                  for v in _stored_range(header)]
        low, high = min(low, *values), max(high, *values)
    return float(low), float(high)


def _fits(values: Sequence[float], dtype: np.dtype[Any]) -> bool:
    info = np.iinfo(dtype)
    return all(info.min <= value <= info.max for value in values)


def output_dtype(slices: Sequence[SliceHeader]) -> np.dtype[Any]:
    """int16 / int32 when rescale keeps whole numbers that fit, float32 otherwise."""
    integral = all(float(h.rescale_slope).is_integer() and float(h.rescale_intercept).is_integer()
                   for h in slices)
    if integral:
        low, high = _integer_range(slices)
        for candidate in (np.int16, np.int32):
            info = np.iinfo(candidate)
            if info.min <= low and high <= info.max:
                return np.dtype(candidate)
    return np.dtype(np.float32)


def _invert_monochrome1(stored: NDArray[Any], header: SliceHeader) -> NDArray[Any]:
    # MONOCHROME1 shows the lowest value as white: mirror within the stored bit range so that
    # higher is brighter, as in MONOCHROME2 (the form every later step expects).
    bits = max(1, min(header.bits_stored, header.bits_allocated))
    top = -1 if header.pixel_signed else 2**bits - 1
    return top - stored.astype(np.int64)


def apply_modality_transform(stored: NDArray[Any], slices: Sequence[SliceHeader]) -> NDArray[Any]:
    """Rescale (per slice) and MONOCHROME1 inversion; returns the output-typed array.

    ``stored`` is reused (and changed) in place where the output type allows.

    Examples
    --------
    A CT slice stored as unsigned values with intercept -1024 comes out in Hounsfield units.
    """
    out_dtype = output_dtype(slices)
    slopes = np.asarray([h.rescale_slope for h in slices], dtype=np.float64)
    intercepts = np.asarray([h.rescale_intercept for h in slices], dtype=np.float64)
    inverted = [h.photometric == "MONOCHROME1" for h in slices]
    uniform = (np.all(slopes == slopes[0]) and np.all(intercepts == intercepts[0])
               and not any(inverted))
    first = slices[0]
    if stored.dtype.kind == "u" and all(h.bits_stored == first.bits_stored for h in slices) \
            and first.bits_stored < first.bits_allocated:
        # Bits above BitsStored are not part of the value (old scanners put overlays there).
        np.bitwise_and(stored, stored.dtype.type(2**first.bits_stored - 1), out=stored)
    if uniform:
        low, high = _stored_range(first)
        if out_dtype.kind == "f" or _fits([low, high, low * slopes[0], high * slopes[0]],
                                          out_dtype):
            if out_dtype.kind == "i" and stored.dtype.kind in "iu" \
                    and stored.dtype.itemsize == out_dtype.itemsize:
                # Every stored value fits the output type, so reinterpret in place: no copy
                # of a 150 MB series and no fresh pages to fault in.
                out = stored.view(out_dtype)
            else:
                out = stored.astype(out_dtype)
            if slopes[0] != 1:
                out *= out_dtype.type(slopes[0])
            if intercepts[0] != 0:
                out += out_dtype.type(intercepts[0])
            return out
    work_dtype = np.float64 if out_dtype.kind == "i" else np.float32
    out = np.empty(stored.shape, dtype=out_dtype)
    for index, header in enumerate(slices):
        values = stored[index]
        if inverted[index]:
            values = _invert_monochrome1(values, header)
        scaled = values.astype(work_dtype) * slopes[index] + intercepts[index]
        out[index] = np.rint(scaled) if out_dtype.kind == "i" else scaled
    return out

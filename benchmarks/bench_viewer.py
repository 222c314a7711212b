"""Viewer and app speed: slice render time on a full-size CT, and app cold start.

Usage (figures quoted in docs/app.md came from exactly this)::

    python benchmarks/bench_viewer.py                 # the full-size demo case (made once)
    python benchmarks/bench_viewer.py --case DIR      # any case folder with ct/
    python benchmarks/bench_viewer.py --skip-start    # render timings only

Render: the CT is loaded first (not timed); then :func:`bcl_core.clinic.viewer.render_slice` is timed
on 100 consecutive slices per plane, plain and with every overlay the consult page draws (the
vertebra outline from a full-size mask, a Grad-CAM block, the marked point), plus the PNG
encoding the click component does before sending the image. Budget: 150 ms per slice.

Cold start: ``streamlit run app.py`` is started (no models needed) and timed until
``/_stcore/health`` answers, then until headless chromium shows the Consult page with its script
finished (when Playwright and /usr/bin/chromium are there). Budget: 3 s to the first page.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

os.environ.setdefault("BCL_ORT_PROVIDER", "cpu")

from bcl_core.clinic.demo_case import demo_case_dir  # noqa: E402
from bcl_core.clinic.viewer import render_slice, slice_geometry  # noqa: E402
from bcl_core.io import load_volume  # noqa: E402
from bcl_core.volume import Volume  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RENDER_BUDGET_MS = 150.0
START_BUDGET_S = 3.0
CHROMIUM = Path("/usr/bin/chromium")


def _overlays(ct: Volume, point_mm: np.ndarray) -> tuple[Volume, Volume]:
    """A full-size mask (bone above 250 HU near the point) and an 80 mm Grad-CAM-like block."""
    mask = ct.with_array((ct.array > 250).astype(np.uint8), modality="SEG")
    centre = np.rint(ct.mm_to_index(point_mm)).astype(int)
    half = np.maximum(1, np.rint(40.0 / np.asarray(ct.spacing)).astype(int))
    start = np.maximum(centre - half, 0)
    stop = np.minimum(centre + half, np.asarray(ct.size_ijk))
    size = stop - start
    rng = np.random.default_rng(0)
    block = Volume(rng.random(tuple(size[::-1])).astype(np.float32), spacing=ct.spacing,
                   origin=tuple(ct.index_to_mm(start)), direction=ct.direction)
    return mask, block


def _png(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def bench_render(ct: Volume, point_mm: np.ndarray, n_slices: int = 100) -> dict[str, dict]:
    """Milliseconds per slice (median, p95, max) per plane and setting."""
    mask, block = _overlays(ct, point_mm)
    results: dict[str, dict] = {}
    for plane in ("axial", "sagittal", "coronal"):
        geometry = slice_geometry(ct, plane)
        first = max(0, geometry.n_slices // 2 - n_slices // 2)
        positions = [geometry.position_mm(i) for i in
                     range(first, min(geometry.n_slices, first + n_slices))]
        render_slice(ct, plane, positions[0])  # warm-up
        for setting in ("plain", "overlays", "overlays+png"):
            times = []
            for position in positions:
                started = time.perf_counter()
                if setting == "plain":
                    render_slice(ct, plane, position)
                else:
                    rendered = render_slice(ct, plane, position, mask=mask, heatmap=block,
                                            point_mm=point_mm)
                    if setting == "overlays+png":
                        _png(rendered.rgb)
                times.append(1000 * (time.perf_counter() - started))
            results[f"{plane}/{setting}"] = {
                "slices": len(times), "median_ms": round(float(np.median(times)), 1),
                "p95_ms": round(float(np.percentile(times, 95)), 1),
                "max_ms": round(float(np.max(times)), 1)}
    return results


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port",
         str(port), "--server.headless", "true", "--server.address", "127.0.0.1"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_healthy(url: str, started: float, timeout_s: float) -> float | None:
    while time.perf_counter() - started < timeout_s:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as reply:
                if reply.status == 200:
                    return time.perf_counter() - started
        except OSError:
            time.sleep(0.05)
    return None


def bench_start(timeout_s: float = 60.0) -> dict[str, float | None]:
    """Seconds from ``streamlit run`` to a healthy server and to the first page shown.

    The browser is launched before the server starts, so its own start-up is not counted: the
    figure is what a user with an open browser waits after starting the app.
    """
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    health_s = page_s = None
    if not CHROMIUM.exists():
        started = time.perf_counter()
        process = _serve(port)
        try:
            health_s = _wait_healthy(url, started, timeout_s)
        finally:
            process.terminate()
            process.wait(timeout=10)
        return {"to_health_s": None if health_s is None else round(health_s, 2),
                "to_first_page_s": None}
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--no-sandbox"])
        page = browser.new_page()
        started = time.perf_counter()
        process = _serve(port)
        try:
            health_s = _wait_healthy(url, started, timeout_s)
            if health_s is not None:
                page.goto(url)
                page.get_by_text("Consult: cement leakage risk").wait_for(timeout=60_000)
                page.wait_for_selector("[data-test-script-state='notRunning']",
                                       timeout=60_000)
                page_s = time.perf_counter() - started
        finally:
            browser.close()
            process.terminate()
            process.wait(timeout=10)
    return {"to_health_s": None if health_s is None else round(health_s, 2),
            "to_first_page_s": None if page_s is None else round(page_s, 2)}


def main() -> int:
    """Run the benchmark; prints a table and JSON; exit 1 when a budget is exceeded."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", help="case folder with ct/ (default: the demo case)")
    parser.add_argument("--slices", type=int, default=100)
    parser.add_argument("--skip-start", action="store_true", help="skip the cold-start timing")
    args = parser.parse_args()
    case = Path(args.case) if args.case else demo_case_dir()
    ct = load_volume(case / "ct")
    truth = case / "truth.json"
    point = (np.asarray(json.loads(truth.read_text())["ct_point_mm"]) if truth.is_file()
             else ct.center_mm)
    print(f"CT {ct.size_ijk} voxels, spacing {tuple(round(s, 3) for s in ct.spacing)} mm")
    render = bench_render(ct, point, args.slices)
    for name, row in render.items():
        print(f"{name:28s} median {row['median_ms']:6.1f} ms  p95 {row['p95_ms']:6.1f} ms  "
              f"max {row['max_ms']:6.1f} ms  ({row['slices']} slices)")
    worst = max(row["p95_ms"] for row in render.values())
    report: dict = {"ct_size_ijk": ct.size_ijk, "render": render,
                    "render_budget_ms": RENDER_BUDGET_MS, "worst_p95_ms": worst}
    ok = worst <= RENDER_BUDGET_MS
    if not args.skip_start:
        start = bench_start()
        report["start"] = start
        print(f"cold start: server healthy {start['to_health_s']} s, first page shown in "
              f"chromium {start['to_first_page_s']} s (budget {START_BUDGET_S} s)")
        first = start["to_first_page_s"] or start["to_health_s"]
        ok = ok and first is not None and first <= START_BUDGET_S
    print(json.dumps(report))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

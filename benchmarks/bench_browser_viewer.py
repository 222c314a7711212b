"""The browser viewer's speed on the full-size demo case, in headless chromium (issue 18 bars).

Usage (the figures in docs/app.md came from exactly this)::

    python benchmarks/bench_browser_viewer.py                 # models in models/ ($BCL_MODEL_DIR)
    python benchmarks/bench_browser_viewer.py --runs 20 --screenshots docs/

Starts ``streamlit run app.py``, opens it in Debian's chromium (headless, WebGL 2 through
SwiftShader: a CPU renderer, the slowest case; a GPU only makes drawing faster) and measures,
each ``--runs`` times, reporting the median and the 90th percentile:

* **first view**: from the click on "Load demo case" (a fresh browser page each run) until the
  CT viewer has drawn the case, and until both have; with the bytes the browser received over
  the websocket in that step (from Chrome's DevTools protocol);
* **wheel slice step**: from a wheel event over the CT until the new slice is drawn (``drawn``:
  NiiVue's draw returned, after ``gl.finish``) and until the next animation frame (``frame``);
* **window/level drag frame**: the same for each pointer move of a right-drag;
* **click to outline**: from a click on the vertebra until the new outline is drawn (the click
  goes to the server, which segments; the outline comes back and is drawn);
* **bytes per mark**: websocket bytes received for one mark (the volume is not sent again).

``--screenshots DIR`` also marks the MRI, predicts, and saves ``consult_marked.png`` (outline)
and ``consult_heatmap.png`` (Type IV heat map with its colour bar) into DIR.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser_support import (  # noqa: E402
    canvas,
    canvas_point,
    launch,
    scroll_to_slice,
    streamlit_server,
    wait_idle,
    wait_viewers,
)

#: Arms a one-shot listener: resolves with [drawn, frame] ms after the next event of a kind
#: over viewer i (event timestamp -> draw finished, -> first animation frame after it).
ARM = """([i, kind]) => {
  const api = window.__bclViewer; const v = api.viewers()[i]; const s = api.stats;
  window.__benchResult = new Promise((resolve) => {
    const handler = (e) => {
      if (!e.composedPath().includes(v.canvas)) return;  // the canvas sits in a shadow root
      window.removeEventListener(kind, handler, true);
      const t0 = e.timeStamp; const d0 = s.draws;
      const poll = () => {
        if (s.draws > d0) {
          const drawn = s.lastDraw - t0;
          requestAnimationFrame(() => resolve([drawn, performance.now() - t0]));
        } else setTimeout(poll, 0);
      };
      setTimeout(poll, 0);
    };
    window.addEventListener(kind, handler, true);
  });
}"""


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return {"median": round(statistics.median(ordered), 1), "p90": round(p90, 1),
            "n": len(ordered)}


class SocketBytes:
    """Bytes the page receives over websockets (DevTools protocol frames)."""

    def __init__(self, page: Any) -> None:
        self.total = 0
        session = page.context.new_cdp_session(page)
        session.send("Network.enable")
        session.on("Network.webSocketFrameReceived", self._frame)

    def _frame(self, event: dict[str, Any]) -> None:
        response = event["response"]
        data = response.get("payloadData", "")
        self.total += len(base64.b64decode(data)) if response.get("opcode") == 2 else len(data)


def _load_demo(page: Any, url: str) -> tuple[float, float, int]:
    """Seconds from "Load demo case" to the CT viewer drawn, to both drawn; bytes received."""
    page.goto(url)
    wait_idle(page)
    counter = SocketBytes(page)
    page.get_by_role("tab", name="Demo case").click()
    button = page.get_by_role("button", name="Load demo case")
    start = time.perf_counter()
    button.click()
    wait_viewers(page, 1, timeout_ms=300_000)
    ct_s = time.perf_counter() - start
    wait_viewers(page, 2, timeout_ms=300_000)
    both_s = time.perf_counter() - start
    wait_idle(page)
    page.wait_for_timeout(500)
    return ct_s, both_s, counter.total


def _timed_events(page: Any, kind: str, act: Any, runs: int) -> list[list[float]]:
    out = []
    for step in range(runs):
        page.evaluate(ARM, [0, kind])
        act(step)
        out.append(page.evaluate("() => window.__benchResult"))
    return out


def main() -> int:
    """Run the measurements; prints a table and one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="repetitions per figure (>= 20)")
    parser.add_argument("--toy", action="store_true", help="use the toy test models")
    parser.add_argument("--screenshots", type=Path, default=None,
                        help="folder for consult_marked.png and consult_heatmap.png")
    args = parser.parse_args()
    env = {"BCL_ORT_PROVIDER": "cpu"}
    if args.toy:
        from model_fixtures import write_toy_models

        env["BCL_MODEL_DIR"] = str(write_toy_models(tempfile.mkdtemp(prefix="bcl-toy-")))
    from playwright.sync_api import sync_playwright

    from bcl_core.clinic.demo_case import demo_case_dir, demo_points
    from bcl_core.clinic.viewer_data import LPS_TO_RAS
    from bcl_core.io import load_volume

    case = Path(demo_case_dir())  # made once, outside the timing
    points = demo_points(case)
    ct = load_volume(case / "ct")
    mr = load_volume(case / "mr")
    results: dict[str, Any] = {"ct_size": list(ct.size_ijk), "mr_size": list(mr.size_ijk)}
    with streamlit_server(env) as url, sync_playwright() as playwright:
        browser = launch(playwright)
        page = None
        first_ct, first_both, sent = [], [], []
        for _ in range(args.runs):
            if page is not None:
                page.close()
            page = browser.new_page(viewport={"width": 1600, "height": 1200})
            ct_s, both_s, received = _load_demo(page, url)
            _progress(f"load: CT {ct_s:.2f} s, both {both_s:.2f} s, {received:,} bytes")
            first_ct.append(ct_s * 1000)
            first_both.append(both_s * 1000)
            sent.append(received)
        results["first_view_ct_ms"] = _summary(first_ct)
        results["first_view_both_ms"] = _summary(first_both)
        results["bytes_received_on_load"] = int(statistics.median(sent))
        renderer = page.evaluate(
            "() => window.__bclViewer.renderer(window.__bclViewer.viewers()[0])")
        results["renderer"] = renderer["renderer"]

        target_k = ct.nearest_voxel(points["ct"])[0]
        scroll_to_slice(page, 0, target_k)
        _progress("scrolled to the target slice")
        box = canvas(page, 0).bounding_box()
        centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.move(*centre)
        wheel = _timed_events(page, "wheel",
                              lambda step: page.mouse.wheel(0, -100 if step % 2 else 100),
                              args.runs + 1)[1:]  # the first draw also compiles the shader
        _progress("wheel done")
        results["wheel_drawn_ms"] = _summary([w[0] for w in wheel])
        results["wheel_frame_ms"] = _summary([w[1] for w in wheel])
        page.mouse.move(*centre)
        page.mouse.down(button="right")
        drag = _timed_events(page, "pointermove", lambda step: page.mouse.move(
            centre[0] + 4 * (step + 1), centre[1] + 2 * (step + 1)), args.runs)
        page.mouse.up(button="right")
        _progress("window drag done")
        results["window_drag_drawn_ms"] = _summary([d[0] for d in drag])
        results["window_drag_frame_ms"] = _summary([d[1] for d in drag])

        ras = (LPS_TO_RAS @ points["ct"]).tolist()
        outline_ms, mark_bytes = [], []
        counter = SocketBytes(page)
        for _ in range(args.runs):
            before = page.evaluate(
                "() => window.__bclViewer.viewers()[0].root.getAttribute('data-bclv-mask')")
            x, y = canvas_point(page, 0, ras)
            bytes_before = counter.total
            start = time.perf_counter()
            page.mouse.click(x, y)
            page.wait_for_function(
                "m => { const r = window.__bclViewer.viewers()[0].root;"
                " return r.getAttribute('data-bclv-mask') && r.getAttribute('data-bclv-mask') !== m; }",
                arg=before, timeout=120_000, polling="raf")
            outline_ms.append((time.perf_counter() - start) * 1000)
            wait_idle(page)
            mark_bytes.append(counter.total - bytes_before)
            _progress(f"outline {outline_ms[-1]:.0f} ms")
        results["click_to_outline_ms"] = _summary(outline_ms)
        results["bytes_received_per_mark"] = int(statistics.median(mark_bytes))
        if args.screenshots is not None:
            _screenshots(page, mr, points, args.screenshots)
        browser.close()
    _report(results)
    return 0


def _screenshots(page: Any, mr: Any, points: dict[str, Any], folder: Path) -> None:
    """Mark the MRI too, predict, and save the two documentation screenshots."""
    from bcl_core.clinic.viewer_data import LPS_TO_RAS

    folder.mkdir(parents=True, exist_ok=True)
    scroll_to_slice(page, 1, mr.nearest_voxel(points["mr"])[0])
    x, y = canvas_point(page, 1, (LPS_TO_RAS @ points["mr"]).tolist())
    page.mouse.click(x, y)
    wait_idle(page)
    page.get_by_text("Vertebra outlined").nth(1).wait_for(timeout=120_000)
    page.wait_for_timeout(500)
    viewers = page.locator("[data-testid=stHorizontalBlock]").filter(
        has=page.locator("[data-testid=bclv-canvas]")).first
    viewers.scroll_into_view_if_needed()
    viewers.screenshot(path=str(folder / "consult_marked.png"))
    page.get_by_role("button", name="Predict leakage risk").click()
    wait_idle(page)
    page.get_by_text("Model estimate per leakage type").wait_for(timeout=300_000)
    wait_idle(page)
    heat = page.locator("[data-testid=stRadio]").filter(has_text="Heat map on the images")
    heat.get_by_text("Type IV: spinal canal").click()
    wait_idle(page)
    page.wait_for_function(
        "() => window.__bclViewer.viewers().every(v => "
        "(v.root.getAttribute('data-bclv-heat') || '').endsWith('-type4'))", timeout=60_000)
    page.wait_for_timeout(500)
    viewers.scroll_into_view_if_needed()
    viewers.screenshot(path=str(folder / "consult_heatmap.png"))
    _shrink(folder / "consult_marked.png")
    _shrink(folder / "consult_heatmap.png")


def _shrink(path: Path, width: int = 1100) -> None:
    """A small PNG for the docs: at most ``width`` px wide, 256-colour palette."""
    from PIL import Image

    image = Image.open(path).convert("RGB")
    if image.width > width:
        image = image.resize((width, round(image.height * width / image.width)),
                             Image.Resampling.LANCZOS)
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def _report(results: dict[str, Any]) -> None:
    rows = [("first view, CT drawn (ms)", "first_view_ct_ms"),
            ("first view, both drawn (ms)", "first_view_both_ms"),
            ("wheel slice step, drawn (ms)", "wheel_drawn_ms"),
            ("wheel slice step, next frame (ms)", "wheel_frame_ms"),
            ("window/level drag, drawn (ms)", "window_drag_drawn_ms"),
            ("window/level drag, next frame (ms)", "window_drag_frame_ms"),
            ("click to outline drawn (ms)", "click_to_outline_ms")]
    for label, key in rows:
        figure = results[key]
        print(f"{label:38s} median {figure['median']:8.1f}  p90 {figure['p90']:8.1f}  "
              f"n={figure['n']}")
    print(f"{'bytes received on load':38s} {results['bytes_received_on_load']:,}")
    print(f"{'bytes received per mark':38s} {results['bytes_received_per_mark']:,}")
    print(f"{'renderer':38s} {results['renderer']}")
    print(json.dumps(results))


if __name__ == "__main__":
    sys.exit(main())

"""The browser viewer: NiiVue (WebGL) as a Streamlit components-v2 component.

Three components share one JavaScript bundle (``bcl_core/clinic/viewer_assets/bcl_viewer.js``, built
from ``viewer_frontend/`` by ``scripts/build_viewer.sh``):

* ``bcl_viewer_lib`` carries the bundle; mounted once per page (:func:`mount_viewer_library`).
* ``bcl_viewer_store`` carries one compressed voxel payload (an image, an outline, the heat
  maps of a result). Its element is the same on every rerun, so Streamlit's message cache sends
  it once per browser session and afterwards only its hash: **the volume crosses the network
  once per case**. The bytes travel inside the app's own websocket message: there is no URL to
  fetch them from, guessable or not, and they live in that browser tab's memory only.
* ``bcl_viewer_view`` is the viewer itself; its data is small JSON (which payloads to show, the
  marked point, the window presets), so a rerun that changes a mark resends a few hundred bytes.

Scrolling, windowing, zooming and panning happen in the browser. A click (in "mark" mode)
returns the point, converted here from NiiVue's RAS to LPS (:func:`bcl_core.clinic.viewer_data.ras_to_lps`).
When the browser has no WebGL 2 the component says so and the page falls back to the static
renderer (:func:`pages.components.viewer_widget.viewer_widget`) with a notice.

UI only: the voxel encoding, masked heat maps and presets are :mod:`bcl_core.clinic.viewer_data`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import streamlit as st
from numpy.typing import ArrayLike

from bcl_core.clinic.viewer import VIEW_PLANES, ViewPlane, slice_geometry
from bcl_core.clinic.viewer_data import (
    LPS_TO_RAS,
    HeatLayer,
    block_bytes,
    canonical_grid,
    mask_block,
    pack_payload,
    proxy_nifti,
    ras_affine,
    ras_to_lps,
    voxel_bytes,
    window_presets,
)
from bcl_core.errors import BCLError
from bcl_core.volume import Volume

logger = logging.getLogger(__name__)

#: Session-state key: False once a browser reported it has no WebGL 2 (then the static viewer).
WEBGL_STATE = "bcl_viewer_webgl"
#: Session-state key of the payload cache: {(viewer key, role): (source object, token, bytes)}.
PAYLOADS_STATE = "bcl_viewer_payloads"
#: Height of the image area in CSS pixels (fits one 900 px screen with the toolbar and status).
DEFAULT_HEIGHT_PX = 460
LIBRARY_KEY = "bcl_viewer_lib"

_LOADER = """
export default function (component) {
  const run = (api) => api.%s(component);
  if (window.__bclViewer) return run(window.__bclViewer);
  return new Promise((resolve) => {
    (window.__bclViewerWaiting = window.__bclViewerWaiting || []).push(resolve);
  }).then(run);
}
"""


def _bundle() -> str:
    return resources.files("bcl_core.clinic").joinpath("viewer_assets/bcl_viewer.js").read_text("utf-8")


_library = st.components.v2.component("bcl_viewer_lib", js=_bundle())
_store = st.components.v2.component("bcl_viewer_store", js=_LOADER % "store")
_view = st.components.v2.component("bcl_viewer_view", js=_LOADER % "view")


@dataclass(frozen=True)
class HeatOverlay:
    """A heat map to draw: the layer (masked, quantised) of every type, and the one shown."""

    #: {type name: layer} for one series and one result.
    layers: Mapping[str, HeatLayer]
    #: The type shown.
    shown: str
    #: Plain name of the type shown and of the series, for the "nothing to show" message.
    type_label: str
    series_label: str


@dataclass(frozen=True)
class BrowserViewerState:
    """What the viewer returned on this run."""

    #: LPS mm of a new click in mark mode, or None.
    marked_mm: tuple[float, float, float] | None
    #: Whether the browser viewer is in use (False: the page should draw the static viewer).
    webgl: bool


def webgl_available() -> bool:
    """Whether this session's browser can show the browser viewer (unknown counts as yes)."""
    return st.session_state.get(WEBGL_STATE, True) is not False


def mount_viewer_library() -> None:
    """Send the viewer's JavaScript (once per page run; cached by the browser afterwards)."""
    with st.container(gap=None, key=f"{LIBRARY_KEY}_box"):
        _library(key=LIBRARY_KEY, height=0)


def start_viewers() -> bool:
    """Ready the page's viewers: the library when the browser has WebGL 2 (returns True), else
    the notice that the simpler server-rendered viewer is shown (returns False)."""
    if webgl_available():
        mount_viewer_library()
        return True
    st.info("This browser cannot run the interactive viewer (no WebGL 2): a simpler viewer "
            "is shown, in which each slice step asks the server.")
    return False


def _cached(key: str, role: str, source: object, build: Any) -> Any:
    """``build()`` once per viewer, role and source object in this session (then reused)."""
    cache: dict[tuple[str, str], tuple[object, Any]] = st.session_state.setdefault(
        PAYLOADS_STATE, {})
    hit = cache.get((key, role))
    if hit is not None and hit[0] is source:
        return hit[1]
    value = build()
    cache[(key, role)] = (source, value)
    return value


def _payload(key: str, role: str, source: object, build: Any) -> tuple[str, bytes]:
    """The payload of ``source`` for one viewer role, built once per object and session.

    The token names the payload in the browser: random per session (so nothing about the
    patient or the server's files is in it), stable while the object is on screen.
    """
    def make() -> tuple[str, bytes]:
        token = secrets.token_hex(8)
        payload = pack_payload(build(token))
        logger.debug("viewer payload %s/%s: %d bytes", key, role, len(payload))
        return token, payload

    return _cached(key, role, source, make)  # type: ignore[no-any-return]


def forget_payloads(prefix: str = "") -> None:
    """Drop this session's cached payloads (of viewers whose key starts with ``prefix``)."""
    cache = st.session_state.get(PAYLOADS_STATE, {})
    for entry in [k for k in cache if k[0].startswith(prefix)]:
        del cache[entry]


def _ras(point_mm: ArrayLike | None) -> list[float] | None:
    if point_mm is None:
        return None
    ras = LPS_TO_RAS @ np.asarray(point_mm, dtype=np.float64)
    return [float(v) for v in ras]


def _box_mm(volume: Volume) -> list[float]:
    """Extent in mm of the canonical grid along its three axes (for the marker's radius)."""
    grid = canonical_grid(volume)
    steps = np.linalg.norm(grid.affine[:3, :3], axis=0)
    return [float(v) for v in steps * np.asarray(grid.dims, dtype=np.float64)]


def _slice_axes(volume: Volume, planes: tuple[ViewPlane, ...]) -> dict[str, int]:
    """Index axis behind each plane (for the "slice n/N" read-out); none for oblique series."""
    try:
        return {plane: slice_geometry(volume, plane).slice_axis for plane in planes}
    except BCLError:
        return {}


def browser_viewer(
    volume: Volume,
    key: str,
    *,
    title: str | None = None,
    planes: tuple[ViewPlane, ...] = VIEW_PLANES,
    default_plane: ViewPlane | None = None,
    mask: Volume | None = None,
    heat: HeatOverlay | None = None,
    focus_mm: ArrayLike | None = None,
    show_marker: bool = True,
    clickable: bool = False,
    height_px: int = DEFAULT_HEIGHT_PX,
) -> BrowserViewerState:
    """Show ``volume`` in the browser viewer; returns a new click's LPS point, if any.

    Parameters
    ----------
    volume:
        The series (de-identified voxels and geometry are all that is sent).
    key:
        Unique key of this viewer on the page.
    title:
        Heading above the viewer.
    planes, default_plane:
        Planes offered (buttons in the viewer) and the one shown first (default: the
        acquisition plane).
    mask:
        The segmented vertebra on the series grid, drawn as an outline.
    heat:
        Heat maps of a result (drawn only inside the vertebra, with a colour bar).
    focus_mm:
        LPS point every plane moves to (the marked or target point); the view moves again
        whenever it changes.
    show_marker:
        Draw a ring around ``focus_mm`` on the slices through it (the target marker).
    clickable:
        A click marks the target (a toolbar button switches to navigate-only clicks).
    height_px:
        Height of the image area.

    Returns
    -------
    BrowserViewerState
        The new mark (LPS mm) and whether WebGL works in this browser.
    """
    if title:
        st.markdown(f"**{title}**")
    base_token, base_payload = _payload(
        key, "base", volume, lambda t: {f"{t}-grid": proxy_nifti(volume),
                                        f"{t}-img": voxel_bytes(volume)})
    mask_id = None
    stores: list[tuple[str, bytes]] = [("base", base_payload)]
    if mask is not None:
        token, payload = _payload(key, "mask", mask,
                                  lambda t: {f"{t}-mask": block_bytes(volume, mask_block(mask))})
        mask_id = f"{token}-mask"
        stores.append(("mask", payload))
    heat_data = None
    if heat is not None:
        token, payload = _payload(key, "heat", heat.layers, lambda t: {
            f"{t}-{name}": block_bytes(volume, layer.block)
            for name, layer in heat.layers.items()})
        stores.append(("heat", payload))
        layer = heat.layers.get(heat.shown)
        if layer is not None:
            message = (f"The {heat.series_label} contributed nothing to {heat.type_label}: "
                       "its heat map is empty." if layer.empty else "")
            heat_data = {"id": f"{token}-{heat.shown}", "message": message,
                         "label": heat.type_label, "peak": round(layer.peak, 4)}
    with st.container(gap=None, key=f"{key}_stores"):
        for role, payload in stores:
            _store(key=f"{key}_store_{role}", data=payload, height=0)
    preferred = default_plane or (volume.plane if volume.plane in planes else planes[0])
    inverse = np.linalg.inv(ras_affine(volume))
    data = {
        "volume": {"id": base_token, "modality": volume.modality},
        "presets": _cached(key, "presets", volume, lambda: window_presets(volume)),
        "plane": preferred,
        "planes": list(planes),
        "slice_axes": _slice_axes(volume, planes),
        "size_ijk": list(volume.size_ijk),
        "ras_to_ijk": inverse[:3].round(9).tolist(),
        "box_mm": _box_mm(volume),
        "mask": mask_id,
        "heat": heat_data,
        "focus_ras": _ras(focus_mm),
        "focus_token": None if focus_mm is None else ",".join(
            f"{v:.3f}" for v in np.asarray(focus_mm, dtype=float)),
        "show_marker": show_marker,
        "clickable": clickable,
        "radiological": True,
        "height": int(height_px),
    }
    result = _view(key=key, data=data, default={"webgl": True},
                   on_webgl_change=lambda: None, on_mark_change=lambda: None)
    if getattr(result, "webgl", True) is False:
        st.session_state[WEBGL_STATE] = False
    mark = getattr(result, "mark", None)
    marked = None
    if clickable and isinstance(mark, dict) and mark.get("ras_mm") is not None:
        marked = ras_to_lps(mark["ras_mm"])
    return BrowserViewerState(marked, webgl_available())

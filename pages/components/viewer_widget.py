"""A Streamlit slice viewer around :mod:`bcl_core.clinic.viewer`, shared by the reader study and consult.

UI only: plane choice, a slider in patient millimetres, a window preset (or manual width/level)
and the rendered image; every pixel computation is :func:`bcl_core.clinic.viewer.render_slice`.
Widget keys derive from ``key``, so several viewers live on one page.

Examples
--------
>>> state = viewer_widget(ct_volume, key="ct", title="CT")          # doctest: +SKIP
>>> state = viewer_widget(ct_volume, key="ct", clickable=True)      # doctest: +SKIP
>>> state.clicked_mm   # LPS mm of the last click on the image, or None   # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import streamlit as st
from numpy.typing import ArrayLike, NDArray

from bcl_core.clinic.viewer import (
    AUTO,
    VIEW_PLANES,
    WINDOW_PRESETS,
    RenderedSlice,
    ViewPlane,
    Window,
    auto_window,
    default_window,
    render_slice,
    slice_geometry,
)
from bcl_core.volume import Volume

MANUAL = "manual"
#: What the slider position means, per plane (LPS: +x left, +y posterior, +z superior).
AXIS_LABEL = {"axial": "z (superior +)", "sagittal": "x (patient left +)",
              "coronal": "y (posterior +)"}


@dataclass(frozen=True)
class ViewerState:
    """What the viewer shows now, and the patient point of the last click (clickable mode)."""

    rendered: RenderedSlice
    window: Window
    clicked_mm: NDArray[np.float64] | None
    #: The click component's raw value (``x``, ``y``, ``width``, ``unix_time``): tells a new click
    #: from the same click reported again on a rerun.
    click: dict[str, Any] | None = None


def slice_key(key: str, plane: ViewPlane) -> str:
    """Session-state key of a viewer's slice slider (set it to move the viewer to a slice)."""
    return f"{key}_{plane}_mm"


def _plane(volume: Volume, key: str, planes: tuple[ViewPlane, ...],
           default_plane: ViewPlane | None) -> ViewPlane:
    preferred = default_plane or (volume.plane if volume.plane in planes else planes[0])
    if len(planes) == 1:
        return planes[0]
    return st.radio("Plane", planes, index=planes.index(preferred), key=f"{key}_plane",
                    horizontal=True)


def _window(volume: Volume, key: str) -> Window:
    default_name, default = default_window(volume)
    options = [*WINDOW_PRESETS, AUTO, MANUAL]
    name = st.selectbox("Window", options, index=options.index(default_name),
                        key=f"{key}_window")
    if name in WINDOW_PRESETS:
        return WINDOW_PRESETS[name]
    if name == AUTO:
        return default if default_name == AUTO else auto_window(volume.array)
    left, right = st.columns(2)
    width = left.number_input("Width", min_value=1.0, value=float(default.width),
                              key=f"{key}_width")
    level = right.number_input("Level", value=float(default.level), key=f"{key}_level")
    return Window(float(width), float(level))


def viewer_widget(
    volume: Volume,
    key: str,
    *,
    title: str | None = None,
    planes: tuple[ViewPlane, ...] = VIEW_PLANES,
    default_plane: ViewPlane | None = None,
    mask: Volume | None = None,
    heatmap: Volume | None = None,
    point_mm: ArrayLike | None = None,
    clickable: bool = False,
    image_width: int | Literal["stretch", "content"] | None = None,
) -> ViewerState:
    """Show ``volume`` with plane, slice (mm) and window controls; returns what is shown.

    Parameters
    ----------
    volume:
        The series to show.
    key:
        Prefix of this viewer's widget keys (unique per viewer on a page).
    title:
        Heading above the viewer.
    planes, default_plane:
        Planes offered, and the one shown first (default: the acquisition plane).
    mask, heatmap, point_mm:
        Overlays (see :func:`bcl_core.clinic.viewer.render_slice`).
    clickable:
        Report the patient point of a click on the image (for marking the vertebra).
    image_width:
        Display width: pixels, ``"stretch"`` (the column's width) or ``None`` (the image's own).
    """
    if title:
        st.markdown(f"**{title}**")
    plane = _plane(volume, key, planes, default_plane)
    geometry = slice_geometry(volume, plane)
    position = geometry.position_mm(geometry.n_slices // 2)
    if geometry.n_slices > 1:
        low, high = geometry.range_mm
        position = st.slider(f"{AXIS_LABEL[plane]} (mm)", min_value=float(low),
                             max_value=float(high), value=float(position),
                             step=float(abs(geometry.step_mm)), format="%.1f",
                             key=slice_key(key, plane))
    window = _window(volume, key)
    rendered = render_slice(volume, plane, position, window, mask=mask, heatmap=heatmap,
                            point_mm=point_mm)
    caption = (f"{plane} slice {rendered.index + 1}/{geometry.n_slices} at "
               f"{AXIS_LABEL[plane].split()[0]} = {rendered.position_mm:.1f} mm; "
               f"W{window.width:g} L{window.level:g}")
    clicked = None
    click: dict[str, Any] | None = None
    if clickable:
        from streamlit_image_coordinates import streamlit_image_coordinates

        click = streamlit_image_coordinates(rendered.rgb, key=f"{key}_click", width=image_width)
        st.caption(caption)
        if click:
            scale = rendered.rgb.shape[1] / max(1, click.get("width") or rendered.rgb.shape[1])
            clicked = rendered.pixel_to_mm(click["y"] * scale, click["x"] * scale)
    else:
        st.image(rendered.rgb, caption=caption, width=image_width or "content")
    return ViewerState(rendered, window, clicked, click or None)

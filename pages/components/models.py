"""Process-wide model resources for the app (ONNX sessions only: no patient data here)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from bcl_core.clinic.model_status import ModelStatus, model_status
from bcl_core.predict.runtime import default_model_dir

if TYPE_CHECKING:
    from bcl_core.predict.pipeline import PipelineModels


@st.cache_resource(show_spinner=False)
def _status(model_dir: str) -> ModelStatus:
    return model_status(model_dir)


def status() -> ModelStatus:
    """Installed models, version and provider in plain words (computed once per models folder)."""
    return _status(str(default_model_dir()))


@st.cache_resource(show_spinner="Loading the models ...")
def _pipeline_models(model_dir: str) -> PipelineModels:
    from bcl_core.predict.pipeline import PipelineModels

    del model_dir  # the cache key: one set of sessions per models folder
    return PipelineModels.load()


def pipeline_models() -> PipelineModels:
    """The shared ONNX sessions of a prediction (thread-safe, loaded once per process)."""
    return _pipeline_models(str(default_model_dir()))

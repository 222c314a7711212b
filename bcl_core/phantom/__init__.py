"""Synthetic thoracolumbar CT + sagittal MRI cases with a known leakage oracle.

No patient data can be had here, so every model, benchmark, demo and test runs on cases made by
this package; a hospital retrains on its own DICOM with the same commands. See
``docs/phantom.md`` for what is modelled, the label formulas and the measured figures.

Public API:

* :func:`synthesize`: many cases and ``labels.csv`` (what ``bcl synth`` runs).
* :func:`write_case`: one case folder.
* :func:`sample_case_spec` / :func:`sample_case_labels`: a case's description, or only its
  features, oracle probabilities and labels, without rendering.
* :func:`render_ct` / :func:`render_mr` / :func:`render_mr_series`: a case's images and target
  masks as Volumes.
* :func:`cached_demo_case`: the cached demo case.

Every entry point takes a ``generation`` (:mod:`bcl_core.phantom.generation`): 1, the default,
is what the shipped models were trained on and never changes; 2 is issue 23's second generation
(STIR and T1 series, realistic noise, anatomy, artefacts).
"""

from __future__ import annotations

from bcl_core.phantom.batch import synthesize
from bcl_core.phantom.ct import render_ct
from bcl_core.phantom.demo import cached_demo_case
from bcl_core.phantom.generation import DEFAULT_GENERATION, GENERATIONS, get_generation
from bcl_core.phantom.mr import render_mr, render_mr_series
from bcl_core.phantom.oracle import LEAKAGE_TYPES, oracle_probabilities
from bcl_core.phantom.sites import SITES, get_site
from bcl_core.phantom.spec import CaseSpec, sample_case_labels, sample_case_spec
from bcl_core.phantom.writer import write_case

__all__ = [
    "DEFAULT_GENERATION",
    "GENERATIONS",
    "LEAKAGE_TYPES",
    "SITES",
    "CaseSpec",
    "cached_demo_case",
    "get_generation",
    "get_site",
    "oracle_probabilities",
    "render_ct",
    "render_mr",
    "render_mr_series",
    "sample_case_labels",
    "sample_case_spec",
    "synthesize",
    "write_case",
]

"""Evaluation of predictions (and reader reads) against the reference standard.

:mod:`~bcl_core.evaluation.schema` (file formats), :mod:`~bcl_core.evaluation.loading`
(read and validate), :mod:`~bcl_core.evaluation.analysis` (tables), :mod:`~bcl_core.evaluation.figures`
(plotly + matplotlib), :mod:`~bcl_core.evaluation.report` (HTML + CSV) and
:mod:`~bcl_core.evaluation.tripod` (reporting checklist).
"""

from __future__ import annotations

from bcl_core.evaluation.loading import EvaluationData, assemble

__all__ = ["EvaluationData", "assemble"]

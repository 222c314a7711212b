"""TRIPOD (Collins et al. 2015) checklist items an evaluation report covers, and those it cannot."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TripodItem:
    """One checklist item and where the report answers it."""

    item: str
    topic: str
    where: str


#: Items this report answers from the data it is given.
COVERED: tuple[TripodItem, ...] = (
    TripodItem("10d", "Measures used to assess model performance and to compare models", "Methods"),
    TripodItem("11", "How risk groups (thresholds) were created", "Operating points"),
    TripodItem("13a", "Numbers of participants with and without the outcome", "Data"),
    TripodItem("14a", "Number of participants and outcome events in each analysis", "Data; n columns of every table"),
    TripodItem("16", "Model performance measures with confidence intervals", "Performance; Discrimination; Calibration"),
)

#: Items the study report must answer from the protocol (outside what predictions and labels say).
NOT_COVERED: tuple[str, ...] = (
    "1-3 title, abstract, background", "4-5 source of data and participants", "6 outcome definition and blinding",
    "7 predictors", "8 sample size", "9 missing data", "10a-c, 10e model building and validation design",
    "12, 13b-c, 14b, 15, 17 development/validation differences, model specification, updating",
    "18-22 discussion, supplementary information, funding",
)


def tripod_rows() -> list[dict[str, str]]:
    """Covered items as table rows (item, topic, section of the report)."""
    return [{"item": i.item, "topic": i.topic, "section": i.where} for i in COVERED]

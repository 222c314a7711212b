"""Read ``models/model_card.json`` and summarise it for the About page and reports.

The card is written by training (its exact layout belongs to the trainer); this reader keeps to
what any card has: top-level fields with short text or numbers. A missing or unreadable card
is ``None``, never an error: the app then says that no model card is installed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bcl_core.predict.runtime import default_model_dir

logger = logging.getLogger(__name__)

MODEL_CARD_FILE = "model_card.json"
#: Fields shown first in a summary when the card has them.
_PREFERRED = ("name", "version", "intended_use", "training_data", "synthetic_notice",
              "limitations", "performance", "metrics")
_MAX_CHARS = 300


def load_model_card(model_dir: str | Path | None = None) -> dict[str, Any] | None:
    """The model card as a dict, or ``None`` when there is none or it is not valid JSON."""
    path = Path(model_dir or default_model_dir()) / MODEL_CARD_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        logger.warning("model card %s is not readable JSON", path.name)
        return None
    return data if isinstance(data, dict) else None


def _short(value: Any) -> str:
    if isinstance(value, Mapping):
        text = "; ".join(f"{k}: {_short(v)}" for k, v in value.items()
                         if not isinstance(v, Mapping | list))
    elif isinstance(value, list):
        text = ", ".join(_short(v) for v in value[:8])
    elif isinstance(value, float):
        text = f"{value:.3g}"
    else:
        text = str(value)
    return text if len(text) <= _MAX_CHARS else text[: _MAX_CHARS - 3] + "..."


def card_summary(card: Mapping[str, Any] | None, max_items: int = 8) -> list[tuple[str, str]]:
    """Up to ``max_items`` ``(field, short text)`` pairs, preferred fields first.

    Examples
    --------
    >>> card_summary({"version": "1.0", "intended_use": "research"})
    [('version', '1.0'), ('intended use', 'research')]
    """
    if not card:
        return []
    keys = [k for k in _PREFERRED if k in card] + [k for k in card if k not in _PREFERRED]
    items = [(key.replace("_", " "), _short(card[key])) for key in keys
             if card[key] not in (None, "", [], {})]
    return [(k, v) for k, v in items if v][:max_items]

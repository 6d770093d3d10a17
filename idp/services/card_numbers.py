"""Card numbers as people type them: NFKC normalisation (placeholder until check digits)."""

from __future__ import annotations

import re
import unicodedata

_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−ー]")


def normalize_card_number(raw: str) -> str:
    """NFKC-normalise and drop spaces and dashes: ``０３０-0000 000`` → ``0300000000``."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw))

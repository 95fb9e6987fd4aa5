"""Offline evaluation: retrieval metrics (``metrics``) and the report writer with its plots (``report``).

The protocol these implement is ``docs/EVALUATION.md``: R@1/5/10 and MRR, always with the gallery size beside
every number. ``metrics`` needs only numpy; ``report`` imports matplotlib lazily, when it draws.
"""
from .metrics import RetrievalResult, rank_of_correct, retrieval_metrics

__all__ = ["RetrievalResult", "rank_of_correct", "retrieval_metrics"]

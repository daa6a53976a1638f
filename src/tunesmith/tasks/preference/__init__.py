"""Preference tuning: DPO on chosen/rejected pairs, KTO on thumbs-up/down completions (TRL)."""

from tunesmith.tasks.preference.data import preference_kind
from tunesmith.tasks.preference.task import Preference

__all__ = ["Preference", "preference_kind"]

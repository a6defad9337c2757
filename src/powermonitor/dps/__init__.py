"""A plug's raw data points (dps) → a :class:`~powermonitor.models.Reading`.

``fields`` says where a quantity lives and how a raw value scales; ``interpret`` holds the
layouts, detection and mappings; ``profiles`` the product-id table; ``physics`` what a number
may be before it is shown. This package re-exports the public API (and the role tables the
config reader uses), so ``from powermonitor.dps import interpret`` keeps working.
"""

from __future__ import annotations

from .fields import (
    _DEFAULT_SCALE,
    _DEFAULT_UNIT,
    _MAX_SCALE,
    _ROLE_UNITS,
    MEASUREMENT_ROLES,
    DpField,
    DpMapping,
    MeasurementRole,
    field_value,
    scaled_value,
)
from .interpret import (
    DETECTION_RULES,
    LAYOUTS,
    DetectionRule,
    detect_layout,
    detect_switches,
    interpret,
    mapping_from_tinytuya,
    merge_dps,
    resolve_mapping,
)
from .profiles import Profile, all_profiles, attribution, profile_for

__all__ = [
    "DETECTION_RULES",
    "LAYOUTS",
    "MEASUREMENT_ROLES",
    "_DEFAULT_SCALE",
    "_DEFAULT_UNIT",
    "_MAX_SCALE",
    "_ROLE_UNITS",
    "DetectionRule",
    "DpField",
    "DpMapping",
    "MeasurementRole",
    "Profile",
    "all_profiles",
    "attribution",
    "detect_layout",
    "detect_switches",
    "field_value",
    "interpret",
    "mapping_from_tinytuya",
    "merge_dps",
    "profile_for",
    "resolve_mapping",
    "scaled_value",
]

"""Satellites, orbits and acquisition planning: elements, SGP4, passes, coverage, orders."""

from sathub.orbits.elements import (
    ElementHistory,
    ElementSet,
    StaleElementsWarning,
    load_elements,
    parse_elements,
    parse_tle,
)
from sathub.orbits.frames import Station
from sathub.orbits.passes import Pass, PassResult, find_passes
from sathub.orbits.propagate import Ephemeris, propagate

__all__ = [
    "ElementHistory",
    "ElementSet",
    "Ephemeris",
    "Pass",
    "PassResult",
    "StaleElementsWarning",
    "Station",
    "find_passes",
    "load_elements",
    "parse_elements",
    "parse_tle",
    "propagate",
]

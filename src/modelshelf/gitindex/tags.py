"""An annotated Git tag as the mirror reads it and GTO interprets it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Tag:
    name: str  # without refs/tags/
    commit: str  # the commit the tag points to, peeled through nested tags: 40 hex digits
    time: int  # the tagger date in seconds since the epoch; GTO orders events by it

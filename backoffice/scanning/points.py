"""Where a scan happens: a checkpoint (or, for self check-in, a location), its location and organization, read
once as plain values.

`record_scan` needs only a handful of columns of these three rows. Device clients resolve them with their token
in one Core query (`scanning.devices`); the reception page and the self check-in page build the same value from the ORM
objects they already hold. Plain values also stay readable after the scan's commit, when ORM objects expire.
"""
from __future__ import annotations

from dataclasses import dataclass

from backoffice.domain import Direction, OrgStatus
from backoffice.models import Checkpoint, Location


@dataclass(frozen=True, slots=True)
class ScanPoint:
    location_id: int
    location_name: str
    location_active: bool
    organization_id: int
    organization_active: bool
    checkpoint_id: int | None = None
    checkpoint_name: str = ""
    checkpoint_active: bool = True
    exit: bool = False

    @property
    def open(self) -> bool:
        """A check-in may be recorded here: the location is active and its organization approved."""
        return self.location_active and self.organization_active

    @classmethod
    def from_row(cls, row) -> ScanPoint:
        """From a row with the columns `scanning.devices` selects (checkpoint, location and organization status)."""
        return cls(location_id=row.location_id, location_name=row.location_name,
                   location_active=bool(row.location_active), organization_id=row.location_organization_id,
                   organization_active=row.organization_status == OrgStatus.ACTIVE.value,
                   checkpoint_id=row.checkpoint_id, checkpoint_name=row.checkpoint_name,
                   checkpoint_active=bool(row.checkpoint_active), exit=row.direction == Direction.EXIT.value)

    @classmethod
    def at_location(cls, location: Location) -> ScanPoint:
        organization = location.organization
        return cls(location_id=location.id, location_name=location.name, location_active=bool(location.active),
                   organization_id=location.organization_id,
                   organization_active=organization is not None and organization.status == OrgStatus.ACTIVE.value)

    @classmethod
    def at_checkpoint(cls, checkpoint: Checkpoint) -> ScanPoint:
        place = cls.at_location(checkpoint.location)
        return cls(place.location_id, place.location_name, place.location_active, place.organization_id,
                   place.organization_active, checkpoint_id=checkpoint.id, checkpoint_name=checkpoint.name,
                   checkpoint_active=bool(checkpoint.active), exit=checkpoint.direction == Direction.EXIT.value)

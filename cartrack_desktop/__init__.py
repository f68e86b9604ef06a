"""CarTrack Desktop: a dispatcher console for live police fleets."""

__version__ = "0.1.0"

"""Adapters that run CPU-heavy image work away from the event loop."""

from image_processing.pool import ProcessSelfieProcessor

__all__ = ["ProcessSelfieProcessor"]

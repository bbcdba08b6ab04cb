"""Process configuration, read once from the environment."""

from settings.config import Environment, Settings, load_settings

__all__ = ["Environment", "Settings", "load_settings"]

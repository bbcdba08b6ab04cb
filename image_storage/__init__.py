"""Where generated images end up: fetched from the provider, kept on this server."""

from image_storage.fetcher import HttpOutputFetcher
from image_storage.local import LocalImageStorage

__all__ = ["HttpOutputFetcher", "LocalImageStorage"]

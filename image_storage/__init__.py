"""Where generated images end up: fetched from the provider, kept on this server."""

from image_storage.fetcher import HttpOutputFetcher, open_output_fetcher
from image_storage.hosts import OutputHosts
from image_storage.local import LocalImageStorage

__all__ = ["HttpOutputFetcher", "LocalImageStorage", "OutputHosts", "open_output_fetcher"]

"""Where generated images end up: fetched from the provider, kept in local files or a
bucket."""

from image_storage.fetcher import HttpOutputFetcher, open_output_fetcher
from image_storage.hosts import OutputHosts
from image_storage.local import LocalImageStorage
from image_storage.s3 import S3Connection, S3ImageStorage

__all__ = [
    "HttpOutputFetcher",
    "LocalImageStorage",
    "OutputHosts",
    "S3Connection",
    "S3ImageStorage",
    "open_output_fetcher",
]

"""The log format of every `sselfie` process, `sselfie serve --workers N`'s children included."""

import logging


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

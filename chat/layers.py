"""Facts about the configured channel layer, for people reading the logs."""

import logging

from channels.layers import InMemoryChannelLayer, get_channel_layer

logger = logging.getLogger(__name__)


def log_layer_mode() -> None:
    """Say once, at start, whether rooms can span processes."""
    layer = get_channel_layer()
    if isinstance(layer, InMemoryChannelLayer):
        logger.warning(
            "Channel layer: in-memory. Fan-out across processes is off: "
            "only sockets on this process hear each other. Set REDIS_URL to use Redis."
        )
    else:
        logger.info("Channel layer: %s.", type(layer).__name__)

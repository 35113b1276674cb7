"""The baseline's settings: the project's, with the channel layer a Channels tutorial uses
(channels-redis' list-based RedisChannelLayer, its defaults) instead of the product's pub/sub."""

from signight.settings import *  # noqa: F403
from signight.settings import REDIS_URL

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15}]},
    },
}

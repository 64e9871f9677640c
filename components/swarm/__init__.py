"""Serve models on Docker Swarm: a platform per stack, a ModelService per model, and the
optional reverse proxy that publishes their ports."""

from .model_service import SwarmModelService, SwarmModelServiceArgs
from .platform import SwarmPlatform, SwarmPlatformArgs
from .proxy import SwarmProxy, SwarmProxyArgs

__all__ = [
    "SwarmModelService",
    "SwarmModelServiceArgs",
    "SwarmPlatform",
    "SwarmPlatformArgs",
    "SwarmProxy",
    "SwarmProxyArgs",
]

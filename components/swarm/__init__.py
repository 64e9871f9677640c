"""Serve models on Docker Swarm: a platform per stack, a ModelService per model, and the
optional reverse proxy that publishes their ports."""

from components.swarm.model_service import SwarmModelService, SwarmModelServiceArgs
from components.swarm.platform import SwarmPlatform, SwarmPlatformArgs
from components.swarm.proxy import SwarmProxy, SwarmProxyArgs

__all__ = [
    "SwarmModelService",
    "SwarmModelServiceArgs",
    "SwarmPlatform",
    "SwarmPlatformArgs",
    "SwarmProxy",
    "SwarmProxyArgs",
]

"""Serve models on Docker Swarm: a platform per stack and a ModelService per model."""

from components.swarm.model_service import SwarmModelService, SwarmModelServiceArgs
from components.swarm.platform import SwarmPlatform, SwarmPlatformArgs

__all__ = ["SwarmModelService", "SwarmModelServiceArgs", "SwarmPlatform", "SwarmPlatformArgs"]

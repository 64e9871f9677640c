"""SwarmModelService: one model served as a replicated Swarm service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from components.labels import model_labels
from components.settings import ServedModel, SwarmSettings


@dataclass(frozen=True)
class SwarmModelServiceArgs:
    model: ServedModel
    image: pulumi.Input[str]
    network_id: pulumi.Input[str]
    environment: str
    settings: SwarmSettings
    secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


class SwarmModelService(pulumi.ComponentResource):
    """A replicated service for one model; `endpoint` is the URL it answers on."""

    endpoint: pulumi.Output[str]

    def __init__(
        self, name: str, args: SwarmModelServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlstack:swarm:ModelService", name, None, opts)
        model = args.model
        docker.Service(
            f"{name}-service",
            name=f"{args.environment}-{model.name}",
            labels=[
                docker.ServiceLabelArgs(label=key, value=value)
                for key, value in model_labels(model, args.environment).items()
            ],
            task_spec=docker.ServiceTaskSpecArgs(
                container_spec=docker.ServiceTaskSpecContainerSpecArgs(image=args.image),
                networks_advanceds=[
                    docker.ServiceTaskSpecNetworksAdvancedArgs(name=args.network_id)
                ],
            ),
            mode=docker.ServiceModeArgs(
                replicated=docker.ServiceModeReplicatedArgs(replicas=model.size.swarm.replicas)
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.endpoint = pulumi.Output.from_input(f"http://localhost:{model.published_port}")
        self.register_outputs({"endpoint": self.endpoint})

"""Pure builders of the Swarm component: settings in, pulumi-docker Args out (no resources)."""

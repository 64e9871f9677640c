"""Pure builders of the Kubernetes serving stack: settings in, pulumi_kubernetes Args out.

Every decision lives here (probe timings, resources, security contexts, HPA metrics and behavior,
the HPA/VPA split, PDB arithmetic, headroom, cluster-autoscaler flags), so it is unit-tested
without an engine; the components only declare resources from what these return.
"""

"""A hand-built recording that satisfies every checklist rule, for breaking one thing at a time.

It holds what a served model needs on Kubernetes (namespace, priority classes, service account,
Deployment, Service, HPA, VPA, PDB), a headroom placeholder, the cluster-autoscaler with its RBAC,
and a hardened Swarm service on an overlay network. Tests edit the plain manifests (`objects`)
and then build the recording from them.
"""

from __future__ import annotations

import copy
from typing import Any

from mlstack.offline import RecordedResource, Recording

NS = "ml-serving"
SELECTOR = {"app.kubernetes.io/name": "iris", "app.kubernetes.io/instance": "iris-staging"}
POD_LABELS = {
    **SELECTOR,
    "app.kubernetes.io/component": "model-server",
    "app.kubernetes.io/version": "1.0.0",
}
RESOURCES = {
    "requests": {"cpu": "500m", "memory": "512Mi", "ephemeral-storage": "256Mi"},
    "limits": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "1Gi"},
}
CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}
POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "fsGroup": 10001,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _probe(path: str) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": 5}


def _meta(name: str, namespace: str | None = NS, **extra: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, **extra}
    if namespace:
        metadata["namespace"] = namespace
    return metadata


def kubernetes_objects() -> dict[str, dict[str, Any]]:
    serving_pod = {
        "metadata": {
            "labels": dict(POD_LABELS),
            "annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "true"},
        },
        "spec": {
            "serviceAccountName": "iris",
            "automountServiceAccountToken": False,
            "priorityClassName": "mlstack-serving",
            "securityContext": dict(POD_SECURITY),
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": key,
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": dict(SELECTOR)},
                }
                for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
            ],
            "volumes": [
                {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
                {"name": "secrets", "secret": {"secretName": "iris", "defaultMode": 0o400}},
            ],
            "containers": [
                {
                    "name": "model-server",
                    "image": "registry.example.com/ml/iris:1.0.0",
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "startupProbe": _probe("/readyz"),
                    "readinessProbe": _probe("/readyz"),
                    "livenessProbe": _probe("/healthz"),
                    "resources": copy.deepcopy(RESOURCES),
                    "securityContext": copy.deepcopy(CONTAINER_SECURITY),
                    "volumeMounts": [
                        {"name": "tmp", "mountPath": "/tmp"},
                        {"name": "secrets", "mountPath": "/run/secrets", "readOnly": True},
                    ],
                    "env": [{"name": "MODEL_NAME", "value": "iris"}],
                }
            ],
        },
    }

    def plain_pod(labels: dict[str, str], image: str, **spec: Any) -> dict[str, Any]:
        return {
            "metadata": {"labels": labels},
            "spec": {
                "automountServiceAccountToken": False,
                "securityContext": dict(POD_SECURITY),
                "containers": [
                    {
                        "name": "main",
                        "image": image,
                        "resources": copy.deepcopy(RESOURCES),
                        "securityContext": copy.deepcopy(CONTAINER_SECURITY),
                    }
                ],
                **spec,
            },
        }

    headroom_labels = {"app.kubernetes.io/name": "headroom"}
    autoscaler_labels = {"app.kubernetes.io/name": "cluster-autoscaler"}
    autoscaler_pod = plain_pod(
        autoscaler_labels,
        "registry.k8s.io/autoscaling/cluster-autoscaler:v1.31.1",
        serviceAccountName="cluster-autoscaler",
        priorityClassName="system-cluster-critical",
    )
    autoscaler_pod["spec"]["automountServiceAccountToken"] = True
    autoscaler_pod["spec"]["containers"][0]["command"] = [
        "./cluster-autoscaler",
        "--cloud-provider=aws",
        "--nodes=1:10:ml-serving-nodes",
    ]
    return {
        "namespace": {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(NS, None)},
        "serving-class": {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": _meta("mlstack-serving", None),
            "value": 100000,
        },
        "headroom-class": {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": _meta("mlstack-headroom", None),
            "value": -10,
        },
        "account": {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta("iris"),
            "automountServiceAccountToken": False,
        },
        "deployment": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta("iris", labels=dict(POD_LABELS)),
            "spec": {
                "selector": {"matchLabels": dict(SELECTOR)},
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
                },
                "template": serving_pod,
            },
        },
        "service": {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta("iris"),
            "spec": {
                "selector": dict(SELECTOR),
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        },
        "hpa": {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": _meta("iris"),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "iris"},
                "minReplicas": 2,
                "maxReplicas": 6,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 70},
                        },
                    }
                ],
                "behavior": {
                    "scaleUp": {
                        "stabilizationWindowSeconds": 0,
                        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
                    },
                    "scaleDown": {
                        "stabilizationWindowSeconds": 300,
                        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
                    },
                },
            },
        },
        "vpa": {
            "apiVersion": "autoscaling.k8s.io/v1",
            "kind": "VerticalPodAutoscaler",
            "metadata": _meta("iris-vpa"),
            "spec": {
                "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "iris"},
                "updatePolicy": {"updateMode": "Initial"},
                "resourcePolicy": {
                    "containerPolicies": [
                        {"containerName": "model-server", "controlledResources": ["memory"]}
                    ]
                },
            },
        },
        "pdb": {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": _meta("iris"),
            "spec": {
                "maxUnavailable": 1,
                "selector": {"matchLabels": dict(SELECTOR)},
                "unhealthyPodEvictionPolicy": "AlwaysAllow",
            },
        },
        "headroom": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta("mlstack-headroom"),
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": dict(headroom_labels)},
                "template": plain_pod(
                    headroom_labels,
                    "registry.k8s.io/pause:3.10",
                    priorityClassName="mlstack-headroom",
                ),
            },
        },
        "autoscaler-account": {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta("cluster-autoscaler", "kube-system"),
        },
        "autoscaler-role": {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": _meta("cluster-autoscaler", None),
            "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]}],
        },
        "autoscaler-binding": {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _meta("cluster-autoscaler", None),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-autoscaler",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": "cluster-autoscaler", "namespace": "kube-system"}
            ],
        },
        "autoscaler": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta("cluster-autoscaler", "kube-system"),
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": dict(autoscaler_labels)},
                "template": autoscaler_pod,
            },
        },
    }


def swarm_objects() -> dict[str, dict[str, Any]]:
    return {
        "network": {"name": "mlstack-staging", "driver": "overlay", "attachable": True},
        "service": {
            "name": "staging-iris",
            "labels": [{"label": "app.kubernetes.io/component", "value": "model-server"}],
            "mode": {"replicated": {"replicas": 2}},
            "taskSpec": {
                "containerSpec": {
                    "image": "registry.example.com/ml/iris:1.0.0",
                    "user": "10001:10001",
                    "readOnly": True,
                    "capDrops": ["ALL"],
                    "env": {"MODEL_NAME": "iris"},
                    "mounts": [{"type": "tmpfs", "target": "/tmp"}],
                    "healthcheck": {
                        "tests": ["CMD", "python3", "-c", "print('probe')"],
                        "interval": "5s",
                        "timeout": "2s",
                        "retries": 3,
                        "startPeriod": "30s",
                    },
                    "secrets": [
                        {
                            "secretId": "iris-token-id",
                            "fileName": "api-token",
                            "fileUid": "10001",
                            "fileGid": "10001",
                            "fileMode": 0o400,
                        }
                    ],
                },
                "networksAdvanceds": [{"id": "mlstack-swarm-network-id"}],
                "resources": {"limits": {"nanoCpus": 1_000_000_000, "memoryBytes": 536870912}},
                "restartPolicy": {
                    "condition": "on-failure",
                    "delay": "5s",
                    "maxAttempts": 3,
                    "window": "2m",
                },
                "placement": {"maxReplicas": 1, "prefs": ["node.labels.zone"]},
            },
            "updateConfig": {
                "parallelism": 1,
                "order": "start-first",
                "failureAction": "rollback",
                "monitor": "60s",
            },
            "rollbackConfig": {"parallelism": 1, "order": "start-first", "monitor": "60s"},
        },
    }


def _type_token(manifest: dict[str, Any]) -> str:
    api_version = str(manifest["apiVersion"])
    group, _, version = api_version.rpartition("/")
    return f"kubernetes:{group or 'core'}/{version}:{manifest['kind']}"


def recording(
    kubernetes: dict[str, dict[str, Any]] | None = None,
    swarm: dict[str, dict[str, Any]] | None = None,
    stack: str = "staging",
) -> Recording:
    resources = []
    for key, manifest in (kubernetes if kubernetes is not None else kubernetes_objects()).items():
        token = _type_token(manifest)
        resources.append(_resource(token, f"mlstack-{key}", stack, manifest))
    swarm = swarm if swarm is not None else swarm_objects()
    for key, inputs in swarm.items():
        token = (
            "docker:index/network:Network"
            if key.startswith("network")
            else ("docker:index/service:Service")
        )
        name = "mlstack-swarm-network" if key == "network" else f"mlstack-{key}"
        resources.append(_resource(token, name, stack, inputs))
    return Recording("mlstack", stack, tuple(resources), {})


def _resource(token: str, name: str, stack: str, inputs: dict[str, Any]) -> RecordedResource:
    return RecordedResource(
        type=token,
        name=name,
        urn=f"urn:pulumi:{stack}::mlstack::{token}::{name}",
        parent=None,
        custom=True,
        provider=None,
        inputs=copy.deepcopy(inputs),
    )

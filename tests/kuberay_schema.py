"""Strict validation of the KubeRay manifests in cluster/kuberay/, as the API server would do it
with strict field validation (`kubectl apply --validate=strict`): an unknown field, a wrong type,
a missing required field or a bad enum value is an error.

- The Ray parts (RayCluster / RayJob / RayService `spec`) follow the `ray.io/v1` CRDs'
  openAPIV3Schema of KubeRay: ray-project/kuberay, ray-operator/config/crd/bases/
  ray.io_rayclusters.yaml, ray.io_rayjobs.yaml, ray.io_rayservices.yaml at commit
  1184bc872c0801e59c18caf8a1a4eb5f2800ce93 (the v1.0.0 line, Nov 2023; later releases add fields
  but keep these). The field names, types, int32 ranges, enums and required lists below are
  written from those schemas; every object is closed (no field outside the schema), as the
  CRDs have no x-kubernetes-preserve-unknown-fields outside the pod templates. Written for the
  fields of v1.0.0 only, so the manifests apply to every KubeRay >= 1.0.
- Everything of Kubernetes' own types inside them (pod templates, env vars, services, resource
  requirements) is checked against the Kubernetes API models of the official `kubernetes`
  Python client (generated from the Kubernetes OpenAPI spec): unknown fields, types and
  required fields, recursively.
"""

from __future__ import annotations

import re

import jsonschema

KUBERAY_SOURCE = {"repository": "ray-project/kuberay", "path": "ray-operator/config/crd/bases/",
                  "commit": "1184bc872c0801e59c18caf8a1a4eb5f2800ce93", "version": "v1 CRDs, KubeRay v1.0.0 line"}

STR = {"type": "string"}
BOOL = {"type": "boolean"}
NUM = {"type": "number"}
INT32 = {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
STR_MAP = {"type": "object", "additionalProperties": STR}


def k8s(model: str) -> dict:
    return {"x-k8s-model": model}


def closed(required: list[str] | None = None, **props) -> dict:
    return {"type": "object", "additionalProperties": False, "properties": props,
            **({"required": required} if required else {})}


QUANTITY_MAP = {"type": "object", "additionalProperties": {"type": ["string", "integer", "number"],
                                                         "pattern": r"^[0-9.]+[a-zA-Z]*$"}}
AUTOSCALER_OPTIONS = closed(
    env={"type": "array", "items": k8s("V1EnvVar")}, envFrom={"type": "array", "items": k8s("V1EnvFromSource")},
    idleTimeoutSeconds=INT32, image=STR, imagePullPolicy=STR,
    resources=closed(limits=QUANTITY_MAP, requests=QUANTITY_MAP), securityContext=k8s("V1SecurityContext"),
    upscalingMode={"type": "string", "enum": ["Default", "Aggressive", "Conservative"]},
    volumeMounts={"type": "array", "items": k8s("V1VolumeMount")})
HEAD_GROUP = closed(["rayStartParams", "template"], enableIngress=BOOL, headService=k8s("V1Service"),
                    rayStartParams=STR_MAP, replicas=INT32, serviceType=STR, template=k8s("V1PodTemplateSpec"))
WORKER_GROUP = closed(["groupName", "maxReplicas", "minReplicas", "rayStartParams", "template"],
                      groupName=STR, maxReplicas=INT32, minReplicas=INT32, rayStartParams=STR_MAP,
                      replicas=INT32, scaleStrategy=closed(workersToDelete={"type": "array", "items": STR}),
                      template=k8s("V1PodTemplateSpec"))
RAYCLUSTER_SPEC = closed(["headGroupSpec"], autoscalerOptions=AUTOSCALER_OPTIONS, enableInTreeAutoscaling=BOOL,
                         headGroupSpec=HEAD_GROUP, headServiceAnnotations=STR_MAP, rayVersion=STR,
                         workerGroupSpecs={"type": "array", "items": WORKER_GROUP})
RAYJOB_SPEC = closed(["entrypoint"], clusterSelector=STR_MAP, entrypoint=STR, entrypointNumCpus=NUM,
                     entrypointNumGpus=NUM, entrypointResources=STR, jobId=STR, metadata=STR_MAP,
                     rayClusterSpec=RAYCLUSTER_SPEC, runtimeEnv=STR, runtimeEnvYAML=STR,
                     shutdownAfterJobFinishes=BOOL, submitterPodTemplate=k8s("V1PodTemplateSpec"), suspend=BOOL,
                     ttlSecondsAfterFinished=INT32)
RAYSERVICE_SPEC = closed(deploymentUnhealthySecondThreshold=INT32, rayClusterConfig=RAYCLUSTER_SPEC,
                         serveConfigV2=STR, serveService=k8s("V1Service"), serviceUnhealthySecondThreshold=INT32)
SPECS = {"RayCluster": RAYCLUSTER_SPEC, "RayJob": RAYJOB_SPEC, "RayService": RAYSERVICE_SPEC}


def document_schema(kind: str) -> dict:
    return closed(["apiVersion", "kind", "metadata", "spec"], apiVersion={"const": "ray.io/v1"},
                  kind={"const": kind}, metadata=k8s("V1ObjectMeta"), spec=SPECS[kind])


# -- Kubernetes' own types, through the official client's models ---------------------------------
_LIST = re.compile(r"^[Ll]ist\[(.+)\]$")
_DICT = re.compile(r"^(?:dict\(str, (.+)\)|Dict\[str, (.+)\])$")


def k8s_errors(value, model: str) -> list[str]:
    """Every problem of `value` as the Kubernetes type `model` (a client model name): the
    client's pydantic model checks types, required fields and unknown fields; the walk below
    also refuses the Python (snake_case) names the model accepts but the API server does not."""
    import pydantic
    from kubernetes.client import models

    try:
        getattr(models, model).model_validate(value)
        found = []
    except pydantic.ValidationError as e:
        found = [f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors()]
    return found + _unknown_json_names(value, model, "")


def _unknown_json_names(value, type_name: str, path: str) -> list[str]:
    from kubernetes.client import models

    if m := _LIST.match(type_name):
        items = enumerate(value) if isinstance(value, list) else ()
        return [e for i, v in items for e in _unknown_json_names(v, m.group(1), f"{path}[{i}]")]
    if m := _DICT.match(type_name):
        items = value.items() if isinstance(value, dict) else ()
        return [e for k, v in items for e in _unknown_json_names(v, m.group(1) or m.group(2), f"{path}.{k}")]
    cls = getattr(models, type_name, None)
    if cls is None or not hasattr(cls, "attribute_map") or not isinstance(value, dict):
        return []
    by_json = {j: a for a, j in cls.attribute_map.items()}
    errors = [f"{path}.{k}: unknown field of {type_name}" for k in value if k not in by_json]
    for k, v in value.items():
        if k in by_json and v is not None:
            errors += _unknown_json_names(v, cls.openapi_types[by_json[k]], f"{path}.{k}")
    return errors


def _k8s_model(validator, model, instance, schema):
    for e in k8s_errors(instance, model):
        yield jsonschema.ValidationError(f"{model}: {e}")


Validator = jsonschema.validators.extend(jsonschema.Draft7Validator, {"x-k8s-model": _k8s_model})


def errors(doc: dict) -> list[str]:
    """Every problem of one manifest document, each with its path ([] = valid)."""
    kind = doc.get("kind") if isinstance(doc, dict) else None
    if kind not in SPECS:
        return [f"kind {kind!r}: not a KubeRay kind ({', '.join(SPECS)})"]
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in Validator(document_schema(kind)).iter_errors(doc)]

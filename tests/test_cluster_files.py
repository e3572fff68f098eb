"""The cluster definitions in cluster/ validate against the schemas their tools use, so a typo
fails `make test`:
- cluster/aws.yaml: Ray's own launcher validation (`prepare_config` + `validate_config`, the
  autoscaler's packaged ray-schema.json, as `ray up` runs them), and every node_config against
  EC2 RunInstances' request shape from botocore's service model (what Ray's AWS provider sends);
- cluster/kuberay/*.yaml: the KubeRay v1 CRD schemas and the Kubernetes API models
  (tests/kuberay_schema.py); the RayService's serveConfigV2 is serve/config.yaml and passes
  Serve's own schema.
"""

import copy
import glob
import os
import re

import pytest
import yaml

from ray_jobs import registry
from tests import kuberay_schema

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
KUBERAY = os.path.join(ROOT, "cluster", "kuberay")


def _yaml(*parts):
    with open(os.path.join(ROOT, *parts)) as fh:
        return yaml.safe_load(fh)


def _docs() -> list[tuple[str, dict]]:
    out = []
    for path in sorted(glob.glob(os.path.join(KUBERAY, "*.yaml"))):
        with open(path) as fh:
            out += [(os.path.basename(path), d) for d in yaml.safe_load_all(fh) if d]
    return out


# -- the cluster launcher ------------------------------------------------------------------------
def launcher_errors(config: dict) -> list[str]:
    """What `ray up` would refuse, plus node_configs that EC2 RunInstances would refuse."""
    import botocore.session
    from botocore.validate import ParamValidator
    from ray.autoscaler._private.util import prepare_config, validate_config

    try:
        validate_config(prepare_config(copy.deepcopy(config)))
    except Exception as e:  # jsonschema.ValidationError, ValueError
        return [str(e).splitlines()[0]]
    shape = botocore.session.get_session().get_service_model("ec2").operation_model("RunInstances").input_shape
    types = set(shape.members["InstanceType"].enum)
    errors = []
    for name, node in config["available_node_types"].items():
        report = ParamValidator().validate({"MinCount": 1, "MaxCount": 1, **node["node_config"]}, shape)
        if report.has_errors():
            errors.append(f"{name}: {report.generate_report()}")
        if node["node_config"].get("InstanceType") not in types:
            errors.append(f"{name}: unknown EC2 instance type {node['node_config'].get('InstanceType')!r}")
    return errors


def test_aws_launcher_config_passes_rays_validation_and_ec2s_request_shape():
    config = _yaml("cluster", "aws.yaml")
    assert launcher_errors(config) == []
    nodes = config["available_node_types"]
    assert nodes[config["head_node_type"]]["resources"] == {"CPU": 0, "GPU": 0}  # the head runs no tasks
    assert {n: v["resources"].get("GPU", 0) for n, v in nodes.items()} == {
        "head": 0, "cpu": 0, "gpu_infer": 1, "gpu_train": 8}
    for name in ("cpu", "gpu_infer"):  # the stages that tolerate losing a node run on spot
        assert nodes[name]["node_config"]["InstanceMarketOptions"]["MarketType"] == "spot"
    assert "InstanceMarketOptions" not in nodes["gpu_train"]["node_config"]
    assert all(v["min_workers"] == 0 < v["max_workers"] for n, v in nodes.items() if n != "head")
    assert any("constraints.txt" in c for c in config["setup_commands"])
    starts = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    assert all("RAY_AUTH_MODE=token" in c for c in starts if "ray start" in c)


@pytest.mark.parametrize("path, value", [
    (("available_node_types", "cpu", "min_worker"), 1),                      # misspelt node-type key
    (("idle_timeout_minute",), 5),                                          # misspelt top-level key
    (("available_node_types", "gpu_infer", "node_config", "InstanceTyp"), "g5.xlarge"),   # EC2 field
    (("available_node_types", "gpu_train", "node_config", "InstanceType"), "p4d.42xlarge"),  # no such type
    (("available_node_types", "cpu", "max_workers"), "many"),               # wrong type
])
def test_a_typo_in_the_launcher_config_is_an_error(path, value):
    config = _yaml("cluster", "aws.yaml")
    node = config
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert launcher_errors(config), path


# -- KubeRay ------------------------------------------------------------------------------------
def test_every_kuberay_manifest_validates_against_the_crd_and_kubernetes_schemas():
    docs = _docs()
    assert {d["kind"] for _, d in docs} == {"RayCluster", "RayJob", "RayService"}
    for name, d in docs:
        assert kuberay_schema.errors(d) == [], (name, d["metadata"]["name"])
    assert kuberay_schema.KUBERAY_SOURCE["commit"]


def _cluster() -> dict:
    return next(d for _, d in _docs() if d["kind"] == "RayCluster")


@pytest.mark.parametrize("mutate, expect", [
    (lambda s: s["workerGroupSpecs"][0].update(maxReplica=3), "maxReplica"),
    (lambda s: s["autoscalerOptions"].update(upscalingMode="Fast"), "Fast"),
    (lambda s: s["workerGroupSpecs"][1].update(replicas="2"), "not of type 'integer'"),
    (lambda s: s["workerGroupSpecs"][1].pop("groupName"), "groupName"),
    (lambda s: s["headGroupSpec"]["template"]["spec"]["containers"][0].update(imagePullPolcy="Always"),
     "imagePullPolcy"),
    (lambda s: s["headGroupSpec"]["template"]["spec"]["containers"][0].pop("name"), "name"),
    (lambda s: s["workerGroupSpecs"][2]["template"]["spec"]["containers"][0]["resources"].update(limit={}),
     "limit"),
    (lambda s: s["headGroupSpec"]["rayStartParams"].update({"num-cpus": 0}), "not of type 'string'"),
])
def test_a_typo_in_a_kuberay_manifest_is_an_error(mutate, expect):
    doc = copy.deepcopy(_cluster())
    mutate(doc["spec"])
    errors = kuberay_schema.errors(doc)
    assert errors and any(expect in e for e in errors), errors


def test_a_rayjob_for_every_stage_and_the_pipeline():
    jobs = [d for _, d in _docs() if d["kind"] == "RayJob"]
    stages = set()
    for j in jobs:
        assert j["spec"]["clusterSelector"] == {"ray.io/cluster": _cluster()["metadata"]["name"]}
        m = re.match(r"python -m ray_jobs(?:\.pipeline| (\w+)(?: --iteration (\d+))?) --config (\S+)", j["spec"]["entrypoint"])
        assert m, j["spec"]["entrypoint"]
        assert m.group(3).endswith("configs/paper.yaml")
        stages.add(m.group(1) or "pipeline")
    assert stages == {s.name for s in registry.STAGES} | {"pipeline"}


def test_the_rayservice_serves_serve_config_yaml_verbatim():
    from ray.serve.schema import ServeDeploySchema

    (service,) = [d for _, d in _docs() if d["kind"] == "RayService"]
    served = yaml.safe_load(service["spec"]["serveConfigV2"])
    assert served == _yaml("serve", "config.yaml")
    app = ServeDeploySchema.model_validate(served).applications[0]
    assert app.import_path == "serve.app:build_app"
    from serve.app import REPLICA_ENV

    assert REPLICA_ENV.items() <= app.runtime_env["env_vars"].items()  # what serve/local.py gives its replicas
    scorer = next(d for d in app.deployments if d.name == "Scorer")
    gpus = {g["groupName"]: g["template"]["spec"]["containers"][0]["resources"]["limits"].get("nvidia.com/gpu")
            for g in service["spec"]["rayClusterConfig"]["workerGroupSpecs"]}
    assert scorer.ray_actor_options.num_gpus == 1 and gpus == {"gpu-infer": "1"}


def test_kuberay_worker_groups_mirror_the_launchers_node_types():
    launcher = _yaml("cluster", "aws.yaml")["available_node_types"]
    groups = {g["groupName"].replace("-", "_"): g for g in _cluster()["spec"]["workerGroupSpecs"]}
    assert set(groups) == set(launcher) - {"head"}
    for name, g in groups.items():
        limits = g["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert int(limits.get("nvidia.com/gpu", 0)) == launcher[name]["resources"].get("GPU", 0)
        assert g["maxReplicas"] == launcher[name]["max_workers"] and g["minReplicas"] == 0
    assert _cluster()["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"

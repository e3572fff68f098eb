"""serve/config.yaml is a valid Serve config (Serve's own schema) for this application."""

import os

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _config() -> dict:
    with open(os.path.join(ROOT, "serve", "config.yaml")) as fh:
        return yaml.safe_load(fh)


def test_serve_config_validates_against_serves_schema():
    from ray.serve.schema import ServeDeploySchema

    schema = ServeDeploySchema.model_validate(_config())
    (app,) = schema.applications
    assert app.import_path == "serve.app:build_app" and app.route_prefix == "/"
    names = {d.name for d in app.deployments}
    assert names == {"Ingress", "Scorer"}
    for d in app.deployments:
        auto = d.autoscaling_config
        assert auto["min_replicas"] <= auto["max_replicas"] and auto["target_ongoing_requests"] > 0


def test_config_args_are_the_apps_settings_and_build_an_application():
    from ray.serve import Application

    from serve.app import Ingress, ServeSettings, build_app
    from serve.app import ScorerDeployment as Scorer

    args = _config()["applications"][0]["args"]
    s = ServeSettings(**args)
    assert s.max_upload_mb > 0 and s.max_batch_size >= 1
    assert isinstance(build_app(args), Application)
    assert {Ingress.name, Scorer.name} == {"Ingress", "Scorer"}
    try:
        ServeSettings(**{**args, "max_uplod_mb": 3})
    except ValueError as e:
        assert "max_uplod_mb" in str(e)
    else:
        raise AssertionError("a misspelt key must be an error")

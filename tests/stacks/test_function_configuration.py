"""Every function fails at init, naming the variable, when a required env var from its template is missing."""

from __future__ import annotations

import pytest
from service_common.env import MissingEnvironmentVariableError

from tests.conftest import FUNCTIONS_DIR, load_function
from tests.stacks.test_packaging import asset_dir, files_under

# Set by the ServiceFunction construct for Powertools, which has defaults for all of them.
OPTIONAL = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}


def required_env_by_folder(app) -> dict[str, dict[str, str]]:
    """Per function folder: its required variables, with the template's value where it is a literal."""
    folders = {folder.name: files_under(folder) for folder in FUNCTIONS_DIR.iterdir() if folder.is_dir()}
    required = {}
    for function in app.resources("Service", "AWS::Lambda::Function").values():
        if "S3Key" not in function["Properties"]["Code"]:
            continue  # CDK's inline custom-resource handler (bucket notifications), not ours
        files = files_under(asset_dir(app, function["Properties"]["Code"]))
        folder = next(name for name, own in folders.items() if own == files)
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        required[folder] = {
            name: value if isinstance(value, str) else f"placeholder-{name.lower()}"
            for name, value in variables.items()
            if name not in OPTIONAL
        }
    return required


def test_each_function_names_each_missing_variable_at_init(synthesized, monkeypatch):
    required = required_env_by_folder(synthesized["dev"])
    assert required
    for folder, variables in required.items():
        for missing in variables:
            with monkeypatch.context() as env:
                for name, value in variables.items():
                    env.setenv(name, value)
                env.delenv(missing)
                with pytest.raises(MissingEnvironmentVariableError, match=missing):
                    load_function(folder)

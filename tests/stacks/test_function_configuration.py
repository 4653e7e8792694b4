"""Every function fails at init, naming the variable, when a required env var from its template is missing."""

from __future__ import annotations

import pytest
from service_common.env import MissingEnvironmentVariableError

from tests.conftest import FUNCTIONS_DIR, load_function
from tests.stacks.test_packaging import asset_dir, files_under

# Set by the ServiceFunction construct for Powertools, which has defaults for all of them.
OPTIONAL = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}


def required_env_by_folder(app) -> dict[str, list[str]]:
    folders = {folder.name: files_under(folder) for folder in FUNCTIONS_DIR.iterdir() if folder.is_dir()}
    required = {}
    for function in app.resources("Service", "AWS::Lambda::Function").values():
        files = files_under(asset_dir(app, function["Properties"]["Code"]))
        folder = next(name for name, own in folders.items() if own == files)
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        required[folder] = sorted(set(variables) - OPTIONAL)
    return required


def test_each_function_names_each_missing_variable_at_init(synthesized, monkeypatch):
    required = required_env_by_folder(synthesized["dev"])
    assert required
    for folder, variables in required.items():
        for missing in variables:
            with monkeypatch.context() as env:
                for name in variables:
                    env.setenv(name, f"placeholder-{name.lower()}")
                env.delenv(missing)
                with pytest.raises(MissingEnvironmentVariableError, match=missing):
                    load_function(folder)

"""API Gateway's request validation for REST methods (AWS::ApiGateway::RequestValidator):

- `ValidateRequestParameters`: each required query string parameter and header is present and not blank
  (400 BAD_REQUEST_PARAMETERS "Missing required request parameters: [...]");
- `ValidateRequestBody`: the body is valid against the method's model for the request's content type, or
  its `$default` model (JSON Schema draft 4, AWS::ApiGateway::Model); no model for the content type: not
  validated (400 BAD_REQUEST_BODY "Invalid request body"). A model's `$ref` to another model of the API
  (`https://apigateway.amazonaws.com/restapis/<api>/models/<name>`) is resolved.
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-method-request-validation.html
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from local_runtime.templates import App, Stack, TemplateError

_MODEL_REF = "/models/"


@dataclass
class Validation:
    required_query: list[str] = field(default_factory=list)
    required_headers: list[str] = field(default_factory=list)
    body_models: dict[str, jsonschema.Draft4Validator] = field(default_factory=dict)  # by content type

    def missing_parameters(self, query: dict[str, str], headers: dict[str, str]) -> list[str]:
        lowered = {k.lower(): v for k, v in headers.items()}
        missing = [name for name in self.required_query if not query.get(name, "").strip()]
        missing += [name for name in self.required_headers if not lowered.get(name.lower(), "").strip()]
        return missing

    def body_problem(self, content_type: str, body: bytes) -> str | None:
        """Why the body fails its model (None: valid, or no model applies)."""
        validator = self.body_models.get(content_type) or self.body_models.get("$default")
        if validator is None:
            return None
        try:
            document = json.loads(body) if body.strip() else {}
        except ValueError as error:
            return f"not JSON: {error}"
        failure = next(iter(validator.iter_errors(document)), None)
        return (
            None
            if failure is None
            else f"{'/'.join(str(p) for p in failure.absolute_path) or '$'}: {failure.message}"
        )


def api_models(app: App, stack: Stack, api_lid: str) -> dict[str, dict[str, Any]]:
    """The API's models by name (and by the value a Ref to them resolves to)."""
    models: dict[str, dict[str, Any]] = {}
    for lid, resource in stack.of_type("AWS::ApiGateway::Model").items():
        props = resource.get("Properties", {})
        if props.get("RestApiId") != {"Ref": api_lid}:
            continue
        schema = app.resolve(stack, props.get("Schema") or {})
        schema = json.loads(schema) if isinstance(schema, str) else schema
        name = str(app.resolve(stack, props.get("Name"))) if props.get("Name") else None
        for key in {name, str(app.ref(stack, lid))} - {None}:
            models[str(key)] = schema
    return models


def method_validation(
    app: App,
    stack: Stack,
    props: dict[str, Any],
    validators: dict[str, tuple[bool, bool]],
    models: dict[str, dict[str, Any]],
) -> Validation:
    """What the method's request validator checks (nothing without one)."""
    validation = Validation()
    ref = props.get("RequestValidatorId")
    params, body = (
        validators.get(ref.get("Ref", ""), (False, False)) if isinstance(ref, dict) else (False, False)
    )
    if params:
        for name, required in props.get("RequestParameters", {}).items():
            if required is True and name.startswith("method.request.querystring."):
                validation.required_query.append(name.removeprefix("method.request.querystring."))
            elif required is True and name.startswith("method.request.header."):
                validation.required_headers.append(name.removeprefix("method.request.header."))
    if body:
        for content_type, model in app.resolve(stack, props.get("RequestModels") or {}).items():
            if str(model) in ("Empty", "Error"):  # API Gateway's built-in models
                continue
            if str(model) not in models:
                raise TemplateError(f"{stack.name}: request model {model} is not a model of the API")
            schema = _inline_refs(models[str(model)], models, depth=0)
            validation.body_models[str(content_type)] = jsonschema.Draft4Validator(schema)
    return validation


def _inline_refs(schema: Any, models: dict[str, dict[str, Any]], depth: int) -> Any:
    """The schema with `$ref`s to the API's other models replaced by those models."""
    if depth > 20:
        raise TemplateError("request models refer to each other too deeply (a cycle?)")
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and _MODEL_REF in ref:
            name = ref.rsplit(_MODEL_REF, 1)[1]
            if name not in models:
                raise TemplateError(f"model reference {ref}: no model {name} in the API")
            return _inline_refs(models[name], models, depth + 1)
        return {k: _inline_refs(v, models, depth) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_inline_refs(v, models, depth) for v in schema]
    return schema

"""GitHub's published description of its REST API (npm's @octokit/openapi), to check the fake server by.

The package is fetched with ``npm pack`` once and only the operations the fake serves (and the webhook
payloads the bot reads) are kept, in
``~/.cache/medperf-git-ci/github-openapi/`` (the folder CI caches, as scripts/setup_engines.sh does for
its base image). Without npm or the registry, ``load()`` returns None and the tests say why they skip.
OpenAPI 3.0's ``nullable`` becomes JSON Schema's ``"null"`` type; every response is completed with the
fields its schema requires that the fake leaves out (from the schema itself: nulls, empty values) and
then validated, so what the fake does set is checked against what GitHub documents.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

VERSION = "23.0.2"
CACHE = Path(os.environ.get("MEDPERF_GIT_CI_CACHE", Path.home() / ".cache" / "medperf-git-ci")) / "github-openapi"
MEMBER = "package/generated/api.github.com.deref.json"
OPERATIONS = [
    ("get", "/user"), ("get", "/repos/{owner}/{repo}"), ("post", "/repos/{owner}/{repo}/forks"),
    ("get", "/repos/{owner}/{repo}/pulls"), ("post", "/repos/{owner}/{repo}/pulls"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}"), ("patch", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("put", "/repos/{owner}/{repo}/pulls/{pull_number}/merge"),
    ("get", "/repos/{owner}/{repo}/issues/comments"),
    ("patch", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("post", "/repos/{owner}/{repo}/statuses/{sha}"), ("get", "/repos/{owner}/{repo}/commits/{ref}/status"),
    ("get", "/repos/{owner}/{repo}/rulesets"), ("get", "/repos/{owner}/{repo}/rulesets/{ruleset_id}"),
    ("get", "/repos/{owner}/{repo}/environments/{environment_name}"),
    ("get", "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies"),
    ("get", "/repos/{owner}/{repo}/actions/secrets"), ("get", "/repos/{owner}/{repo}/actions/permissions/workflow"),
    ("get", "/repos/{owner}/{repo}/actions/permissions/fork-pr-contributor-approval"),
    ("get", "/repos/{owner}/{repo}/collaborators"), ("get", "/repos/{owner}/{repo}/installation"),
    ("post", "/app/installations/{installation_id}/access_tokens"),
]
WEBHOOKS = ["issue-comment-created"]  # the payloads of the events the bot reads (its x-webhooks section)
SUBSET = hashlib.sha256(json.dumps([OPERATIONS, WEBHOOKS]).encode()).hexdigest()[:12]  # a new list, a new cache


def _fetch(dest: Path) -> str | None:
    """Extract the description from the npm package into ``dest``; None, or why it could not."""
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed"
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([npm, "pack", f"@octokit/openapi@{VERSION}", "--pack-destination", tmp],
                              capture_output=True, text=True, timeout=600)
        packs = list(Path(tmp).glob("*.tgz"))
        if proc.returncode != 0 or not packs:
            return f"npm pack @octokit/openapi failed: {(proc.stderr or proc.stdout).strip()[-200:]}"
        with tarfile.open(packs[0]) as archive:
            source = archive.extractfile(MEMBER)
            if source is None:
                return f"{MEMBER} is not in the package"
            full = json.load(source)
    subset: dict[str, Any] = {"error": None, "operations": {}, "webhooks": {}}
    for method, path in OPERATIONS:
        responses = full["paths"][path][method]["responses"]
        subset["operations"][f"{method} {path}"] = {
            code: (r.get("content") or {}).get("application/json", {}).get("schema") for code, r in responses.items()}
        for r in responses.values():
            schema = (r.get("content") or {}).get("application/json", {}).get("schema") or {}
            if subset["error"] is None and schema.get("title") == "Basic Error":
                subset["error"] = schema
    for name in WEBHOOKS:
        subset["webhooks"][name] = full["x-webhooks"][name]["post"]["requestBody"]["content"]["application/json"][
            "schema"]
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp_dest = dest.with_suffix(".tmp")
    tmp_dest.write_text(json.dumps(subset))
    os.replace(tmp_dest, dest)
    return None


def load() -> tuple[Spec | None, str | None]:
    """The description (kept in the cache), or None and why not."""
    dest = CACHE / f"octokit-openapi-{VERSION}-subset-{SUBSET}.json"
    if not dest.exists():
        try:
            why = _fetch(dest)
        except (OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
            why = f"cannot read @octokit/openapi: {exc}"
        if why:
            return None, why
    return Spec(json.loads(dest.read_text())), None


def _schema(node: Any) -> Any:
    """OpenAPI 3.0 to JSON Schema: ``nullable`` becomes a "null" alternative; the rest is kept."""
    if isinstance(node, list):
        return [_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _schema(v) for k, v in node.items() if k not in ("nullable", "example", "examples")}
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def _default(schema: dict) -> Any:
    """The least value a schema allows, for a field the fake leaves out."""
    if schema.get("nullable"):
        return None
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return _default(schema[key][0])
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {k: _default(schema["properties"].get(k, {})) for k in schema.get("required", [])
                if k in (schema.get("properties") or {})}
    return {"string": _string(schema), "integer": 0, "number": 0, "boolean": False, "array": []}.get(kind)


def _string(schema: dict) -> str:
    fmt = schema.get("format")
    if fmt == "date-time":
        return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return "https://example.invalid/" if fmt == "uri" else ""


def _complete(schema: dict | None, value: Any) -> Any:
    if not isinstance(schema, dict):
        return value
    if isinstance(value, dict) and schema.get("allOf"):  # every part's fields, as one object
        parts = [schema, *schema["allOf"]]
        props: dict[str, Any] = {}
        for part in parts:  # the first part to define a field says most about it
            for key, sub in (part.get("properties") or {}).items():
                props.setdefault(key, sub)
        required = [k for part in parts for k in part.get("required", [])]
        return _complete({"type": "object", "required": required, "properties": props}, value)
    if isinstance(value, dict):
        options = [schema] + list(schema.get("anyOf") or schema.get("oneOf") or [])
        target = next((o for o in options if o.get("type") == "object" or "properties" in o), None)
        if target is None:
            return value
        props = target.get("properties") or {}
        done = {k: _complete(props.get(k), v) for k, v in value.items()}
        for key in target.get("required", []):
            if key not in done and key in props:
                done[key] = _default(props[key])
        return done
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_complete(schema["items"], v) for v in value]
    return value


class Spec:
    def __init__(self, data: dict):
        self.operations = data["operations"]
        self.error = data["error"]
        self.webhooks = data.get("webhooks") or {}
        self._routes = [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), f"{method} {path}")
                        for method, path in OPERATIONS]
        self._validators: dict[tuple[str, str], Any] = {}

    def _schema_of(self, method: str, path: str, status: int) -> tuple[str | None, dict | None]:
        for pattern, key in self._routes:
            if key.startswith(method.lower() + " ") and pattern.match(path.split("?")[0]):
                responses = self.operations[key]
                if str(status) in responses:
                    return key, responses[str(status)]
                return key, self.error if status >= 400 else None
        return None, None

    def complete(self, method: str, path: str, status: int, data: Any) -> Any:
        return _complete(self._schema_of(method, path, status)[1], data)

    def check(self, method: str, path: str, status: int, data: Any) -> str | None:
        """Why ``data`` is not what GitHub documents for this answer, or None."""
        import jsonschema

        key, schema = self._schema_of(method, path, status)
        if key is None:
            return f"{method} {path}: not an operation the description lists"
        if schema is None:
            return None if data in (None, {}, "") else f"{key} {status}: a body where GitHub documents none"
        validator = self._validators.get((key, str(status)))
        if validator is None:
            validator = jsonschema.Draft202012Validator(_schema(schema))
            self._validators[(key, str(status))] = validator
        error = next(iter(validator.iter_errors(data)), None)
        return None if error is None else f"{key} {status}: {'/'.join(map(str, error.absolute_path))}: " \
                                          f"{error.message[:200]}"

    def check_event(self, name: str, payload: dict) -> str | None:
        """Why an event payload is not what GitHub documents for that webhook, or None."""
        import jsonschema

        schema = self.webhooks[name]
        error = next(iter(jsonschema.Draft202012Validator(_schema(schema)).iter_errors(_complete(schema, payload))),
                     None)
        return None if error is None else f"{name}: {'/'.join(map(str, error.absolute_path))}: {error.message[:200]}"

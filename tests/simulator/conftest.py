"""Real HTTP against an in-process simulator on an ephemeral loopback port."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tap_zoho_bulk.simulator import Simulator, run_simulator

SPEC = Path(__file__).resolve().parents[2].parent / "shared/reference/zoho-crm-oas/v8.0"
"""Zoho's v8 OpenAPI specification, kept outside the repository (no licence is stated)."""


class Api:
    """A thin Zoho client for tests: token refresh, auth header, bulk read helpers."""

    def __init__(self, sim: Simulator, refresh_token: str | None = None) -> None:
        self.sim = sim
        self.refresh_token = refresh_token or sim.refresh_token
        self.session = requests.Session()
        self._token: str | None = None

    def token_response(self, **params: str) -> requests.Response:
        values = {
            "grant_type": "refresh_token",
            "client_id": self.sim.client_id,
            "client_secret": self.sim.client_secret,
            "refresh_token": self.refresh_token,
        } | params
        return self.session.post(f"{self.sim.accounts_url}/oauth/v2/token", params=values)

    def token(self, *, fresh: bool = False) -> str:
        if self._token is None or fresh:
            body = self.token_response().json()
            self._token = str(body["access_token"])
        return self._token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Zoho-oauthtoken {self.token()}"}

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.sim.base_url + path, headers=self.headers(), **kwargs)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(
            method, self.sim.base_url + path, headers=self.headers(), **kwargs
        )

    def create(self, version: str, query: dict[str, Any], **body: Any) -> requests.Response:
        return self.session.post(
            f"{self.sim.base_url}/crm/bulk/{version}/read",
            headers=self.headers(),
            json={"query": query, **body},
        )

    def create_id(self, version: str, query: dict[str, Any]) -> str:
        response = self.create(version, query)
        assert response.status_code == 201, response.text
        return str(response.json()["data"][0]["details"]["id"])

    def job(self, version: str, job_id: str) -> dict[str, Any]:
        response = self.get(f"/crm/bulk/{version}/read/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()["data"][0]
        return job

    def download(self, version: str, job_id: str) -> requests.Response:
        return self.get(f"/crm/bulk/{version}/read/{job_id}/result")

    def rows(self, version: str, job_id: str) -> list[list[str]]:
        response = self.download(version, job_id)
        assert response.status_code == 200, response.text
        return self.zip_rows(response.content, f"{job_id}.csv")

    @staticmethod
    def zip_rows(content: bytes, member: str) -> list[list[str]]:
        """The single CSV member of a result ZIP as rows (header first)."""
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            assert archive.namelist() == [member]
            text = archive.read(member).decode("utf-8")
        return list(csv.reader(io.StringIO(text)))


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with run_simulator(seed=3, records=40, page_size=15) as simulator:
        yield simulator


@pytest.fixture
def api(sim: Simulator) -> Api:
    return Api(sim)


@pytest.fixture(scope="session")
def make_api() -> Callable[..., Api]:
    """Api for another simulator or another refresh token (tests cannot import conftest)."""
    return Api


OasSchema = Callable[[str, str], dict[str, Any]]


@pytest.fixture(scope="session")
def oas_schema() -> OasSchema:
    """(spec file stem, schema name) -> that schema of Zoho's v8 OpenAPI spec as JSON Schema:
    references resolved across the spec's files (read as they are referred to), `nullable`
    turned into a null type. Skips the test when the spec is not there."""
    documents: dict[str, Any] = {}

    def document(stem: str) -> Any:
        if stem not in documents:
            documents[stem] = json.loads((SPEC / f"{stem}.json").read_text())
        return documents[stem]

    def resolve(node: Any, stem: str) -> Any:
        if isinstance(node, list):
            return [resolve(item, stem) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            where, _, pointer = node["$ref"].partition("#")
            target = Path(where).stem if where else stem
            found: Any = document(target)
            for part in pointer.strip("/").split("/"):
                found = found[part]
            return resolve(found, target)
        out = {k: resolve(v, stem) for k, v in node.items() if k != "nullable"}
        if node.get("nullable") and "type" in out:
            out["type"] = [out["type"], "null"]
        return out

    def schema(stem: str, name: str) -> dict[str, Any]:
        if not SPEC.is_dir():
            pytest.skip(f"Zoho's OpenAPI spec is not at {SPEC} (kept outside the repository)")
        resolved: dict[str, Any] = resolve(document(stem)["components"]["schemas"][name], stem)
        return resolved

    return schema

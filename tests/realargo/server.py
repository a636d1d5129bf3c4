"""A real pygeoapi server (argo_papermill.app under gunicorn, 2 workers) in front of the real-Argo stack."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests
import yaml
from fakes.fixtures import free_port

VENV_BIN = Path(sys.executable).parent


def pygeoapi_config(port: int, manager: dict, processor: dict) -> dict:
    return {
        "server": {"bind": {"host": "127.0.0.1", "port": port}, "url": f"http://127.0.0.1:{port}",
                   "mimetype": "application/json; charset=UTF-8", "encoding": "utf-8", "languages": ["en-US"],
                   "limits": {"default_items": 10, "max_items": 50},
                   "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "attribution": "OSM"},
                   "manager": {"connection": "argo", "output_dir": "/tmp/pygeoapi", **manager}},
        "logging": {"level": "WARNING"},
        "metadata": {"identification": {"title": "t", "description": "d", "keywords": ["k"],
                                        "url": "http://example.org",
                                        "terms_of_service": "https://creativecommons.org/licenses/by/4.0/"},
                     "license": {"name": "CC-BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
                     "provider": {"name": "p", "url": "http://example.org"}, "contact": {"name": "c"}},
        "resources": {
            "execute-notebook": {"type": "process", "allow_internal_requests": True,
                                 "processor": {"name": "argo_papermill.NotebookProcessor", **processor}},
        },
    }


class PygeoapiServer:
    def __init__(self, tmp: Path, manager: dict, processor: dict):
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg, oas = tmp / "pygeoapi.yml", tmp / "openapi.yml"
        cfg.write_text(yaml.safe_dump(pygeoapi_config(self.port, manager, processor)))
        self.env = {**os.environ, "PYGEOAPI_CONFIG": str(cfg), "PYGEOAPI_OPENAPI": str(oas)}
        subprocess.run([str(VENV_BIN / "pygeoapi"), "openapi", "generate", str(cfg), "--output-file", str(oas)],
                       env=self.env, check=True, capture_output=True, timeout=120)
        self.log = tmp / "gunicorn.log"
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "-b", f"127.0.0.1:{self.port}", "-w", "2", "--threads", "4",
             "--timeout", "120", "argo_papermill.app:APP"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=open(self.log, "w"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/processes", timeout=2).ok:
                    return
            except requests.RequestException:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(self.log.read_text())

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    # --- the OGC API, as a client uses it -------------------------------------------------------------
    def execute(self, inputs: dict, subscriber: dict | None = None, sync: bool = False) -> requests.Response:
        body: dict = {"inputs": inputs}
        if subscriber:
            body["subscriber"] = subscriber
        headers = {} if sync else {"Prefer": "respond-async"}
        return requests.post(f"{self.url}/processes/execute-notebook/execution", json=body, headers=headers,
                             timeout=300)

    def submit(self, inputs: dict, **kwargs) -> str:
        response = self.execute(inputs, **kwargs)
        assert response.status_code == 201, response.text
        return response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]

    def job(self, job_id: str) -> dict:
        return requests.get(f"{self.url}/jobs/{job_id}?f=json", timeout=30).json()

    def wait(self, job_id: str, want=("successful", "failed", "dismissed"), timeout: float = 240,
             seen: list | None = None) -> dict:
        deadline = time.monotonic() + timeout
        job: dict = {}
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if seen is not None:
                seen.append(job)
            if job.get("status") in want:
                return job
            time.sleep(0.3)
        raise AssertionError(f"job {job_id} did not reach {want} in {timeout} s: {job}")

    def results(self, job_id: str) -> requests.Response:
        return requests.get(f"{self.url}/jobs/{job_id}/results?f=json", timeout=60)

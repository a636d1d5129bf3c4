"""The embedded engine's sandbox (bubblewrap) keeps a job out of the engine's data folder (the SQLite store,
other jobs' pod files and env) and out of the secrets folder, except its own Secrets (issue 13, point 6).
Also where the data folder lies inside the job's home, as with ``argo-papermill serve`` (.argo-papermill
under the folder it serves)."""

from __future__ import annotations

import shutil

import pytest
from test_engine_run import submit, wait

from argo_papermill.engine.config import EngineConfig
from argo_papermill.engine.service import Engine

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")

PROBE = r'''
out=/data/report; : > $out
cat /etc/creds/username >> $out 2>/dev/null || echo own-secret-unreadable >> $out
for f in "$SECRETS/other/password" "$DATA"/*.db "$DATA"/*.sqlite* /home/jovyan/.ap-data/*.db; do
  [ -r "$f" ] && { echo "READ $f" >> $out; head -c 64 "$f" >> $out; echo >> $out; }
done
ls "$SECRETS" >> $out 2>&1; ls /home/jovyan/.ap-data >> $out 2>&1
echo planted > "$DATA/planted" 2>/dev/null; echo planted > /home/jovyan/.ap-data/planted 2>/dev/null
echo done >> $out
'''


@pytest.mark.parametrize("data_in_home", [False, True])
def test_job_sees_neither_the_store_nor_other_secrets(tmp_path, data_in_home):
    home = tmp_path / "home"
    data = home / ".ap-data" if data_in_home else tmp_path / "data"
    cfg = EngineConfig(data_dir=data, home=home, secrets_dir=tmp_path / "secrets", grace_seconds=1,
                       poll_seconds=0.05)
    for name, key, value in (("creds", "username", "alice"), ("other", "password", "s3cr3t-other")):
        (cfg.secrets_dir / name).mkdir(parents=True)
        (cfg.secrets_dir / name / key).write_text(value)
    claim = tmp_path / "claim"
    cfg.claims["data"] = claim
    engine = Engine.acquire(cfg)
    try:
        wf = {"metadata": {"name": f"probe-{int(data_in_home)}"}, "spec": {"entrypoint": "t", "volumes": [
            {"name": "s", "secret": {"secretName": "creds"}}, {"name": "d", "persistentVolumeClaim": {"claimName": "data"}}],
            "templates": [{"name": "t", "container": {
                "image": "x", "command": ["sh", "-c", PROBE],
                "env": [{"name": "SECRETS", "value": str(cfg.secrets_dir)}, {"name": "DATA", "value": str(cfg.data_dir)}],
                "volumeMounts": [{"name": "s", "mountPath": "/etc/creds"}, {"name": "d", "mountPath": "/data"}]}}]}}
        done = wait(engine, submit(engine, wf))
        assert done["status"]["phase"] == "Succeeded", done["status"]
        report = (claim / "report").read_bytes().decode(errors="replace")
        assert report.startswith("alice") and report.rstrip().endswith("done"), report  # its own Secret: yes
        assert "s3cr3t-other" not in report and "READ" not in report and "other" not in report, report
        assert not (cfg.data_dir / "planted").exists()
        assert engine.store.get(wf["metadata"]["name"])["status"]["phase"] == "Succeeded"
    finally:
        engine.close()

#!/usr/bin/env bash
# The README's first command: set up, start the OGC API on the embedded engine, run the hello
# notebook through it, show the job and its result, and keep serving (Ctrl-C stops).
# --once: stop the server after the demo job.
set -euo pipefail
cd "$(dirname "$0")/.."
once=false; [ "${1:-}" = "--once" ] && once=true
port="${PORT:-5000}"
url="http://127.0.0.1:${port}"

bash scripts/bootstrap.sh
mkdir -p .argo-papermill
.venv/bin/argo-papermill serve --port "$port" > .argo-papermill/serve.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT INT TERM

for _ in $(seq 1 120); do
  curl -sf "$url/processes/execute-notebook?f=json" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat .argo-papermill/serve.log; echo "quickstart: the server did not start" >&2; exit 1; }
  sleep 0.5
done
sed -n '1,40p' .argo-papermill/serve.log

echo
echo "quickstart: running examples/notebooks/hello.ipynb with name=World through $url ..."
job=$(.venv/bin/argo-papermill submit --url "$url" examples/notebooks/hello.ipynb -p name=World)
echo "quickstart: job $job"
for _ in $(seq 1 240); do
  status=$(curl -s "$url/jobs/$job?f=json" | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["status"])')
  case "$status" in successful|failed|dismissed) break;; esac
  sleep 0.5
done
echo "quickstart: GET /jobs/$job"
curl -s "$url/jobs/$job?f=json" | .venv/bin/python -m json.tool
echo "quickstart: GET /jobs/$job/results"
curl -s "$url/jobs/$job/results?f=json"; echo
[ "$status" = successful ] || { echo "quickstart: the job ended $status" >&2; exit 1; }

if $once; then exit 0; fi
echo
echo "quickstart: serving at $url (jobs at $url/jobs); Ctrl-C stops."
wait "$server"

#!/usr/bin/env bash
# Creates .venv (Python 3.12) with argo-papermill and its test extras, and, when run as root on
# Debian, the system packages the embedded engine, the tests and the quickstart use (bubblewrap, s3fs,
# git, fuse3, curl, openssl, util-linux's unshare, chromium for the screenshot test).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
for pair in bwrap:bubblewrap s3fs:s3fs git:git fusermount3:fuse3 curl:curl openssl:openssl unshare:util-linux \
            chromium:chromium; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need_pkgs+=("${pair##*:}")
done
if ((${#need_pkgs[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "bootstrap: installing ${need_pkgs[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
  else
    echo "bootstrap: missing ${need_pkgs[*]}; install them with your package manager (as root)." >&2
    # what works without root, exactly (docs/local.md):
    echo "bootstrap: without root the local engine needs bubblewrap OR util-linux's unshare with" \
         "unprivileged user namespaces (each pod gets its own mount namespace either way); with neither," \
         "'argo-papermill serve' refuses to start and says so. Without s3fs or /dev/fuse only the s3-mount" \
         "step fails (a job without 's3' runs); FUSE mounts need root. Without chromium the screenshot test skips." >&2
    if command -v unshare >/dev/null && ! unshare --user --map-root-user --mount --pid --fork true 2>/dev/null; then
      echo "bootstrap: this user may not create user namespaces, so unshare cannot stand in for bubblewrap" >&2
    fi
  fi
fi

find_python() {
  for candidate in "${PYTHON:-}" python3.12 "$HOME/.pyenv/versions/3.12.1/bin/python" \
                   $(ls -d "$HOME"/.pyenv/versions/3.12*/bin/python 2>/dev/null) python3; do
    [ -n "$candidate" ] || continue
    if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

if [ ! -x .venv/bin/python ]; then
  py=$(find_python) || { echo "bootstrap: Python 3.12 not found (pygeoapi 0.24 needs >= 3.12); set PYTHON=/path/to/python3.12" >&2; exit 1; }
  echo "bootstrap: creating .venv with $py"
  "$py" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -c requirements/constraints.txt -e ".[test]"
echo "bootstrap: ready ($(.venv/bin/python --version), $(.venv/bin/argo-papermill --version))"

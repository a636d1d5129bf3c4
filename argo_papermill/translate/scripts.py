"""The constant ``sh -c`` scripts of the in-pod contract (docs/architecture.md).

Each script is a fixed string: every value (user input or configuration) reaches it only as a
positional argument after it (``sh -c SCRIPT <name> ARG1 ARG2 ...``), so no value can change what
the shell parses. They use only POSIX sh and ``papermill``, ``git``, ``s3fs``, ``umount`` /
``fusermount``, ``mkdir``, ``cp``, ``test``, ``sleep``, ``mkfifo``, ``tee``, ``tail``, ``awk``, ``kill``
(and /proc/mounts, /dev/stderr), so the embedded engine can run them on a host whose environment stands in for the image.
"""

from __future__ import annotations

from typing import Final

from argo_papermill.contract import (
    JOB_HOME,
    GIT_CHECKOUT_DIR,
    ENV_RENDER_HTML,
    ERROR_RECORD_PATH,
    OUTPUTS_DIR,
    PAPERMILL_DONE_MARKER,
    PAPERMILL_STDERR_FIFO,
    PAPERMILL_STDERR_TAIL,
    RESULT_HTML_COPY,
    RESULT_NOTEBOOK_COPY,
    S3_FAILED_MARKER,
    S3_MOUNTED_MARKER,
)

# Fallback error record from the last lines of papermill's stderr (awk program; no single quotes).
# It runs only when papermill failed without writing a record (the progress engine writes one for a
# failing cell or kernel): the notebook is missing or unreadable, the parameters cannot be injected,
# the kernel is missing with plain papermill, ... The exception is the first unindented line after
# the last "Traceback" header ("module.Name: message"); without a traceback, the last non-empty line
# (e.g. click's "Error: No such option"). A failing cell under plain papermill ends in
# PapermillExecutionError, whose message holds 'Exception encountered at "In [N]":' and ends with
# the cell's "Name: message". Output: the error record JSON with "cell_index": null.
STDERR_ERROR_AWK: Final = r"""
function esc(s,   out, i, c) {
  out = ""
  for (i = 1; i <= length(s); i++) {
    c = substr(s, i, 1)
    if (c == "\\" || c == "\"") out = out "\\" c
    else if (index(ctl, c)) out = out " "
    else out = out c
  }
  return out
}
BEGIN { for (i = 1; i < 32; i++) ctl = ctl sprintf("%c", i) }
{ sub(/.*\r/, ""); gsub(/\033\[[0-9;]*[A-Za-z]/, ""); line[NR] = $0 }
END {
  tb = 0
  for (i = 1; i <= NR; i++) if (line[i] ~ /Traceback \(most recent call last\):[ \t]*$/) tb = i  # also after a progress bar
  pick = ""
  if (tb) for (i = tb + 1; i <= NR; i++) if (line[i] ~ /^[^ \t]/) { pick = line[i]; break }
  if (pick == "") for (i = NR; i >= 1; i--) if (line[i] ~ /[^ \t]/) { pick = line[i]; break }
  if (pick == "") exit
  ename = "Error"; evalue = pick
  if (tb && pick ~ /^[A-Za-z_][A-Za-z0-9_.]*(:|$)/) {
    n = index(pick, ":")
    if (n) { ename = substr(pick, 1, n - 1); evalue = substr(pick, n + 1) } else { ename = pick; evalue = "" }
    sub(/.*\./, "", ename)
  } else sub(/^Error: /, "", evalue)
  count = "null"
  if (ename == "PapermillExecutionError") {
    for (i = tb + 1; i <= NR; i++) {
      if (line[i] ~ /^Exception encountered at "In \[[0-9]+\]":/) { count = line[i]; gsub(/[^0-9]/, "", count) }
      if (line[i] ~ /^[A-Za-z_][A-Za-z0-9_.]*: /) { n = index(line[i], ":"); ename = substr(line[i], 1, n - 1); evalue = substr(line[i], n + 1) }
    }
    sub(/.*\./, "", ename)
  }
  sub(/^[ \t]+/, "", evalue)
  sub(/^\[Errno [0-9]+\] /, "", evalue)
  printf "{\"cell_index\": null, \"execution_count\": %s, \"ename\": \"%s\", \"evalue\": \"%s\"}\n", count, esc(substr(ename, 1, 200)), esc(substr(evalue, 1, 1000))
}
"""
assert "'" not in STDERR_ERROR_AWK.replace("\n", "")  # it is single-quoted in the sh script

# Every step script starts with this. Argo's emissary (the process that runs each container's command)
# calls umask(0) (``emissary.go``, v3.6 to v4.x), so without it the results folders would be created
# 0777 and the notebooks 0666: writable by anyone who shares the home volume.
UMASK: Final = "umask 022"

# The end of the papermill step (its EXIT trap), in this order:
# 1. Processes the notebook left behind (a kernel's child in a session of its own, say) are killed, so none
#    can change the outputs below after they were checked: ``kill -KILL -1`` signals every process of the
#    container's user in its PID namespace but PID 1 (Argo's emissary) and the shell itself. Only when the
#    shell's parent is PID 1, i.e. the emissary of this container's own PID namespace started it; otherwise
#    (the local engine, a shared process namespace) -1 would reach other processes.
# 2. Symbolic links are removed from the outputs folder, and the folder itself replaced if it is one: Argo's
#    wait container reads /workspace/outputs/error.json and result.ipynb following links
#    (``os.ReadFile``, executor.go), in its own filesystem, which holds its service account token.
# 3. The done marker, so s3-mount ends.
PAPERMILL_EXIT: Final = f"""clean_outputs() {{
  if [ -L {OUTPUTS_DIR} ]; then rm -f -- {OUTPUTS_DIR}; fi
  mkdir -p -- {OUTPUTS_DIR}
  for f in {OUTPUTS_DIR}/* {OUTPUTS_DIR}/.[!.]* {OUTPUTS_DIR}/..?*; do if [ -L "$f" ]; then rm -f -- "$f"; fi; done
}}
finish() {{
  if [ "$own_pidns" = true ]; then kill -KILL -1 2> /dev/null; kill -KILL -1 2> /dev/null; fi
  clean_outputs
  : > {PAPERMILL_DONE_MARKER}
}}
own_pidns=false; if [ "$PPID" = 1 ]; then own_pidns=true; fi
trap finish EXIT"""

# papermill step. Positional arguments (all always present, "" = not set):
#   $1 notebook (relative: under $HOME)  $2 output notebook ("" = <results>/<notebook stem>_result.ipynb)
#   $3 cwd ("" = the notebook's folder)  $4 kernel ("" = the notebook's)  $5 parameters, base64 YAML
#   $6 log output: "true"/"false"  $7 papermill engine ("" = papermill's default)
#   $8 seconds to wait for the S3 mount ("0" = no S3)  $9 results directory ("" = <$11>/$JOB_NAME)
#   $10 result data directory ("" = none)  $11 output directory (root of default result folders)
# Papermill's options come first and the two paths after "--", so even a value starting with "-"
# stays a path. The done marker is written on every exit (trap), so s3-mount always ends.
# papermill's stderr goes through a FIFO to ``tee -a /dev/stderr`` (so the pod log still streams it
# live, byte for byte) and on to ``tail``, which keeps its last 200 lines on the workspace; its stdout
# goes straight to the pod log, and its exit code is its own (papermill runs in the foreground, not
# in a pipeline). tee and tail end at end of file, i.e. when every process holding papermill's stderr
# closed it: a background process a notebook left behind (inheriting the kernel's stderr) could hold
# it open for ever, so the script waits for them at most ~10 s, then a watchdog ends both (tee must
# not keep the container's stderr open) and the step goes on without the tail. After a failure without an error record, STDERR_ERROR_AWK writes one; not
# after a signal (exit code >= 128, e.g. OOMKilled: papermill printed no traceback of its own, and the
# tail holds only the notebook's log output).
PAPERMILL_SCRIPT: Final = f"""set -u
{UMASK}
{PAPERMILL_EXIT}
trap 'exit 143' TERM
trap 'exit 130' INT
nb=$1; out=$2; cwd=$3; kernel=$4; params=$5; log_output=$6; engine=$7; s3_wait=$8; results=$9
data_dir=${{10}}; output_root=${{11}}
case $nb in /*) ;; *) nb=${{HOME:-{JOB_HOME}}}/$nb ;; esac  # an operator's relative path: under the home
mkdir -p {OUTPUTS_DIR}
if [ "$s3_wait" != 0 ]; then
  waited=0
  while :; do
    if test -e {S3_FAILED_MARKER}; then echo "papermill: the S3 mount failed" >&2; exit 70; fi
    if test -e {S3_MOUNTED_MARKER}; then break; fi
    if [ "$waited" -ge "$s3_wait" ]; then echo "papermill: no S3 mount after $s3_wait s" >&2; exit 70; fi
    sleep 1; waited=$((waited + 1))
  done
fi
test -n "$results" || results=$output_root/${{JOB_NAME:-job}}
if [ -z "$out" ]; then stem=${{nb##*/}}; out=$results/${{stem%.ipynb}}_result.ipynb; fi
test -n "$cwd" || cwd=${{nb%/*}}
test -n "$cwd" || cwd=/
mkdir -p -- "$results" "${{out%/*}}" || exit 71
if [ -n "$data_dir" ]; then mkdir -p -- "$data_dir" || exit 71; fi
RESULTS_DIRECTORY=$results; export RESULTS_DIRECTORY
set -- --cwd "$cwd"
if [ -n "$kernel" ]; then set -- "$@" -k "$kernel"; fi
if [ -n "$params" ]; then set -- "$@" -b "$params"; fi
if [ "$log_output" = true ]; then set -- "$@" --log-output; fi
if [ -n "$engine" ]; then set -- "$@" --engine "$engine"; fi
rm -f -- {PAPERMILL_STDERR_FIFO} {PAPERMILL_STDERR_FIFO}.tail {PAPERMILL_STDERR_TAIL}
mkfifo -m 600 -- {PAPERMILL_STDERR_FIFO} {PAPERMILL_STDERR_FIFO}.tail || exit 71
tail -n 200 < {PAPERMILL_STDERR_FIFO}.tail > {PAPERMILL_STDERR_TAIL} &
tailer=$!
tee -a /dev/stderr < {PAPERMILL_STDERR_FIFO} > {PAPERMILL_STDERR_FIFO}.tail &
teer=$!
papermill "$@" -- "$nb" "$out" 2> {PAPERMILL_STDERR_FIFO}
rc=$?
(i=0; while kill -0 "$tailer"; do [ "$i" -lt 10 ] || {{ kill "$teer" "$tailer"; break; }}; sleep 1; i=$((i + 1)); done) > /dev/null 2>&1 &
watchdog=$!
wait "$tailer" || :
kill "$watchdog" 2> /dev/null || :
err=${{ARGO_PAPERMILL_ERROR_FILE:-{ERROR_RECORD_PATH}}}
if [ "$rc" -gt 0 ] && [ "$rc" -lt 128 ] && ! test -s "$err" && test -f {PAPERMILL_STDERR_TAIL}; then
  mkdir -p -- "${{err%/*}}" && awk '{STDERR_ERROR_AWK}' {PAPERMILL_STDERR_TAIL} > "$err" || :
fi
clean_outputs  # links planted in (or as) the outputs folder would make cp write through them
if test -f "$out"; then cp -- "$out" {RESULT_NOTEBOOK_COPY} || :; fi
# with an artifact repository: the notebook as one HTML page for the Argo UI's preview, where the image has
# nbconvert (never fatal: without it, or if it fails, the artifact is simply absent; it is optional)
if [ "${{{ENV_RENDER_HTML}:-}}" = true ] && test -f {RESULT_NOTEBOOK_COPY}; then
  if command -v jupyter-nbconvert > /dev/null 2>&1; then
    jupyter-nbconvert --to html --stdout {RESULT_NOTEBOOK_COPY} > {RESULT_HTML_COPY} 2> /dev/null || rm -f -- {RESULT_HTML_COPY}
  else
    echo "papermill: no nbconvert in the image, so no result-html artifact" >&2
  fi
fi
exit $rc
"""

# git-checkout step. $1 repository URL, $2 revision ("" = the default branch).
# Credentials come from env GIT_USERNAME / GIT_PASSWORD (a Secret) through a credential helper that
# reads the environment: never in the URL, the argv or the manifest. When the clone fails,
# papermill never runs (Argo skips a container whose dependency failed), so this step writes the
# done marker itself; otherwise s3-mount would wait for ever.
GIT_SCRIPT: Final = f"""set -u
{UMASK}
url=$1; rev=$2
fail() {{ echo "git-checkout: $1" >&2; : > {PAPERMILL_DONE_MARKER}; exit 1; }}
helper='!f() {{ test -n "${{GIT_USERNAME:-}}" && echo "username=$GIT_USERNAME"; test -n "${{GIT_PASSWORD:-}}" && echo "password=$GIT_PASSWORD"; }}; f'
mkdir -p -- "{GIT_CHECKOUT_DIR}" || fail "cannot create {GIT_CHECKOUT_DIR}"
git -c credential.helper= -c "credential.helper=$helper" -c advice.detachedHead=false clone -- "$url" "{GIT_CHECKOUT_DIR}" || fail "git clone failed"
if [ -n "$rev" ]; then
  git -C "{GIT_CHECKOUT_DIR}" -c advice.detachedHead=false checkout --detach "$rev" -- 2>/dev/null \\
    || git -C "{GIT_CHECKOUT_DIR}" -c advice.detachedHead=false checkout --detach "origin/$rev" -- \\
    || fail "revision $rev not found"
fi
git -C "{GIT_CHECKOUT_DIR}" log -1 --format='git-checkout: at %H %s'
"""

# Run first by s3-mount, as root: Argo's emissary of this container (root too) keeps using the shared, world-
# writable /var/run/argo while the notebook runs: it polls /var/run/argo/ctr/s3-mount/signal and sends the
# number written there to s3-mount (SIGSTOP freezes it), and writes .../exitcode when it ends, following
# links: a link planted by the notebook (same folders, user 1000) would make it write into any file of a
# privileged container, devices included. The folders get the sticky bit and root as owner, the container's
# own folder and argoexec become root's and read-only for others: the notebook can no longer rename, replace
# or add anything there. Only under Argo's emissary (the folder of this container exists; $0 is its name);
# elsewhere (the local engine) nothing is touched. Argo >= 3.1 to v4.1 keep this layout (ctr/<container>).
ARGO_DIR_GUARD: Final = """guard_argo_dir() {
  d=/var/run/argo
  test -d "$d/ctr/$0" || return 0
  chown 0:0 "$d/ctr" "$d/ctr/$0" && chmod 1777 "$d" "$d/ctr" && chmod 0755 "$d/ctr/$0" || return 1
  if test -f "$d/argoexec"; then chown 0:0 "$d/argoexec" && chmod 0555 "$d/argoexec" || return 1; fi
  echo "s3-mount: protected $d"
}"""

# s3-mount step. $1 bucket, $2 mount path, $3 s3fs options (comma separated, from configuration),
# $4 seconds to wait for the mount. Credentials: env AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY from a
# Secret (s3fs reads them). s3fs runs in the foreground as a child, so its end is noticed: s3fs
# checks the bucket only after mounting and then exits (even with status 0), so "mounted" means
# "listed in /proc/mounts while s3fs lives". It waits for papermill's done marker, unmounts and exits 0
# by itself; if s3fs ends first it writes the failed marker and exits 1. Argo sends SIGTERM to every
# container still running once one exited non-zero (``podHasContainerNeedingTermination``, v3.6 to v4.x),
# so a failed papermill's s3-mount is often terminated before it sees the marker: after the marker
# that is no failure of its own (exit 0); before it (papermill killed, a stop, a deadline) it exits 143.
S3_SCRIPT: Final = f"""set -u
{UMASK}
bucket=$1; mnt=$2; opts=$3; wait_s=$4
{ARGO_DIR_GUARD}
guard_argo_dir || {{ echo "s3-mount: cannot protect /var/run/argo from the notebook" >&2; : > {S3_FAILED_MARKER}; exit 1; }}
mkdir -p -- "$mnt"
mounted() {{
  while read -r _dev mp fstype _rest; do
    if [ "$mp" = "$mnt" ] && [ "$fstype" = fuse.s3fs ]; then return 0; fi
  done < /proc/mounts
  return 1
}}
unmount() {{ umount "$mnt" 2>/dev/null || fusermount -u "$mnt" 2>/dev/null || fusermount3 -u "$mnt" 2>/dev/null; }}
failed() {{ echo "s3-mount: $1" >&2; : > {S3_FAILED_MARKER}; unmount; exit 1; }}
s3fs "$bucket" "$mnt" -f -o "$opts" &
pid=$!
trap 'unmount; if test -e {PAPERMILL_DONE_MARKER}; then exit 0; fi; exit 143' TERM
trap 'unmount; exit 130' INT
waited=0
until mounted; do
  kill -0 "$pid" 2>/dev/null || failed "s3fs could not mount bucket $bucket"
  [ "$waited" -lt "$wait_s" ] || failed "bucket $bucket not mounted after $wait_s s"
  sleep 1; waited=$((waited + 1))
done
: > {S3_MOUNTED_MARKER}
echo "s3-mount: bucket $bucket mounted at $mnt"
while ! test -e {PAPERMILL_DONE_MARKER}; do
  kill -0 "$pid" 2>/dev/null || failed "s3fs ended before papermill did (bucket unreachable or credentials refused?)"
  sleep 1
done
unmount || echo "s3-mount: could not unmount $mnt" >&2
wait "$pid" 2>/dev/null
echo "s3-mount: unmounted $mnt"
exit 0
"""

# main: Argo saves a containerSet's outputs through the container named main; nothing to do.
MAIN_COMMAND: Final = ["true"]

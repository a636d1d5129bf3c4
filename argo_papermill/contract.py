"""Names shared by the translation, the status mapping, the manager and the engine.

Everything that crosses a process boundary (Workflow labels and annotations, in-pod
paths and file names) is defined here once; ``docs/architecture.md`` explains them.
"""

from typing import Final

WORKFLOW_NAME_PREFIX: Final = "pygeoapi-job-"

# Labels (values must be <= 63 characters)
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "argo-papermill"
LABEL_VERSION: Final = "app.kubernetes.io/version"
LABEL_PROCESS_ID: Final = "pygeoapi.io/process-id"
LABEL_JOB_ID: Final = "pygeoapi.io/job-id"
LABEL_ARGO_PHASE: Final = "workflows.argoproj.io/phase"  # set by the Argo controller
LABEL_ARGO_COMPLETED: Final = "workflows.argoproj.io/completed"  # set by the Argo controller

# Annotations
ANNOTATION_TITLE: Final = "workflows.argoproj.io/title"
ANNOTATION_DESCRIPTION: Final = "workflows.argoproj.io/description"
ANNOTATION_PARAMETERS: Final = "pygeoapi.io/parameters"  # JSON, secrets masked, truncated
ANNOTATION_RESULT_NOTEBOOK: Final = "pygeoapi.io/result-notebook"  # path of the output notebook in the pod
ANNOTATION_RESULTS_DIRECTORY: Final = "pygeoapi.io/results-directory"  # the job's own result folder in the pod
ANNOTATION_SUBSCRIBER: Final = "pygeoapi.io/subscriber"  # JSON {successUri, inProgressUri, failedUri}
ANNOTATION_NOTIFIED_PREFIX: Final = "pygeoapi.io/notified-"  # + accepted|running|successful|failed: timestamp
ANNOTATION_NOTIFYING_PREFIX: Final = "pygeoapi.io/notifying-"  # + state: "<owner> <epoch seconds>" while sending
LABEL_NOTIFY: Final = "pygeoapi.io/notify"  # NOTIFY_PENDING while a callback is owed, then NOTIFY_DONE
NOTIFY_PENDING: Final = "pending"
NOTIFY_DONE: Final = "done"
ANNOTATION_DISMISSED: Final = "pygeoapi.io/dismissed"  # timestamp, set beside spec.shutdown by a dismiss
ANNOTATION_CREATED: Final = "pygeoapi.io/created"  # pygeoapi DATETIME_FORMAT, set at submission
ANNOTATION_RESULT_MIMETYPE: Final = "pygeoapi.io/result-mimetype"  # optional; the job's mimetype (default application/json)

MAX_PARAMETERS_ANNOTATION_BYTES: Final = 4096
ANNOTATION_TEMPLATE_CONFIG: Final = "pygeoapi.io/template-config-sha256"  # on WorkflowTemplates: config fingerprint

# The containerSet template and its containers (the Argo UI shows each container as a node)
TEMPLATE_NOTEBOOK: Final = "notebook"
CONTAINER_GIT: Final = "git-checkout"
CONTAINER_S3: Final = "s3-mount"
CONTAINER_PAPERMILL: Final = "papermill"
CONTAINER_MAIN: Final = "main"  # Argo saves containerSet outputs through the container named main
# Argo's own containers in a workflow pod, not steps: init and wait, and from v4.1 (opt-in init-less pods,
# absent in v4.0.5) supervisor in place of init (workflow/common/common.go)
ARGO_CONTAINERS: Final = frozenset({"init", "wait", "supervisor"})
# The container whose log a person wants first: the pod's kubectl.kubernetes.io/default-container
ANNOTATION_DEFAULT_CONTAINER: Final = "kubectl.kubernetes.io/default-container"

# The shared workspace volume of the pod and the files on it
WORKSPACE_VOLUME: Final = "workspace"
WORKSPACE_PATH: Final = "/workspace"
# The pod's other volumes (docs/architecture.md, the in-pod contract); extra PVCs and mounted Secrets are
# numbered: extra-<n>, secret-<n>
HOME_VOLUME: Final = "home"
GIT_VOLUME: Final = "git"
S3_VOLUME: Final = "s3"
CONDA_VOLUME: Final = "conda-store"
TMP_VOLUME: Final = "tmp"  # /tmp of git-checkout and papermill (writable under a read-only root filesystem)
TMP_PATH: Final = "/tmp"
EXTRA_PVC_VOLUME_PREFIX: Final = "extra-"
SECRET_VOLUME_PREFIX: Final = "secret-"
SECRET_MOUNT_DIR: Final = "/secret"  # a mounted Secret <name> is at /secret/<name>
GIT_MOUNT_PATH: Final = "/home/jovyan/git"

# What Argo adds to a workflow pod itself (workflow/controller/workflowpod.go, workflow/common/common.go at
# v3.6.19 to v4.1.2): its volumes and the paths it mounts or uses in the containers. A configured volume or
# mount must not take them (the pod would be rejected, or shadow Argo's files).
ARGO_VOLUMES: Final = frozenset({
    "var-run-argo",  # the emissary's binary and control files, in every container
    "tmp-dir-argo",  # the wait container's /tmp
    "input-artifacts",  # input artifacts
    "argo-env-config",  # the executor's configuration
    "exec-sa-token",  # executor.serviceAccountName's token
    "argoexec-bin",  # v4.1 init-less pods: argoexec as an image volume
    "argo-staging",  # script templates
    "kubeconfig",  # resource templates
})
ARGO_PATHS: Final = (
    "/var/run/argo",  # var-run-argo
    "/mainctrfs",  # where the wait container sees main's volumes
    "/argo",  # /argo/inputs/artifacts, /argo/staging, /argo/secret, /argo/config
    "/argo-bin",  # v4.1 init-less pods
    "/var/run/secrets/kubernetes.io/serviceaccount",  # the service account token (exec-sa-token)
)
OUTPUTS_DIR: Final = "/workspace/outputs"
ERROR_RECORD_PATH: Final = "/workspace/outputs/error.json"  # written by the progress engine on a cell error
RESULT_NOTEBOOK_COPY: Final = "/workspace/outputs/result.ipynb"  # copied there for the output artifact
RESULT_HTML_COPY: Final = "/workspace/outputs/result.html"  # rendered there by nbconvert for the Argo UI
ENV_RENDER_HTML: Final = "ARGO_PAPERMILL_RENDER_HTML"  # "true": the papermill step renders RESULT_HTML_COPY
S3_MOUNTED_MARKER: Final = "/workspace/s3-mounted"  # touched by s3-mount once the bucket is mounted
PAPERMILL_DONE_MARKER: Final = "/workspace/papermill-done"  # touched by papermill's step when it ends, always
# (also by git-checkout when the clone fails: papermill then never runs)
S3_FAILED_MARKER: Final = "/workspace/s3-failed"  # touched by s3-mount when s3fs fails, so papermill stops waiting
PAPERMILL_STDERR_TAIL: Final = "/workspace/papermill-stderr.tail"  # last lines of papermill's stderr
PAPERMILL_STDERR_FIFO: Final = "/workspace/papermill-stderr.fifo"  # papermill's stderr, read by tee

# Output parameter and artifact names of the notebook template
OUTPUT_ERROR: Final = "error"
OUTPUT_RESULT_ARTIFACT: Final = "result-notebook"
OUTPUT_RESULT_HTML_ARTIFACT: Final = "result-html"  # archive none, key ending .html: the Argo UI previews it

# Environment variables seen by the papermill step
ENV_ERROR_FILE: Final = "ARGO_PAPERMILL_ERROR_FILE"
ENV_PROGRESS_FILE: Final = "ARGO_PROGRESS_FILE"  # injected by Argo (and by the embedded engine)

PAPERMILL_ENGINE: Final = "argo_progress"  # the papermill.engine entry point name

JOB_HOME: Final = "/home/jovyan"
GIT_CHECKOUT_DIR: Final = "/home/jovyan/git/algorithm"

# pygeoapi.util.DATETIME_FORMAT (job timestamps, pygeoapi.io/created), without importing pygeoapi.util
DATETIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%fZ"

"""hera builders: the ``notebook`` containerSet template, the inline Workflow, the WorkflowTemplate
and the small ``workflowTemplateRef`` Workflow.

One builder makes the containerSet for both modes; only where per-request pod fields go differs:
inline, they are set on the template directly; in template mode (the checked-in WorkflowTemplate),
the template holds their structure and scalar parameters fill it (Argo's strict ``templateReferencing``
forbids pod fields on the referencing Workflow): the node purpose and its operator into the template's
affinity, the Fargate switch into a pod label, papermill's cpu and memory, as integers through Argo's
``asInt()``, into the template's ``podSpecPatch`` (the full CRD validates resource quantities by pattern,
so no ``{{...}}`` can stand there directly). No parameter is a patch or any other structure: whoever can
submit the template (the Argo UI, the CLI) cannot patch in volumes, privileges or a service account.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from hera.workflows import ContainerNode, ContainerSet, Parameter, Workflow, WorkflowTemplate
from hera.workflows.models import (
    Affinity,
    ArchiveStrategy,
    Artifact,
    Capabilities,
    EmptyDirVolumeSource,
    EnvFromSource,
    EnvVar,
    EnvVarSource,
    ExecutorConfig,
    NodeAffinity,
    NodeSelector,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    NoneStrategy,
    Outputs,
    PersistentVolumeClaimVolumeSource,
    PodGC,
    PodSecurityContext,
    ResourceRequirements,
    SeccompProfile,
    SecretEnvSource,
    SecretKeySelector,
    SecretVolumeSource,
    SecurityContext,
    Toleration,
    TTLStrategy,
    ValueFrom,
    Volume,
    VolumeMount,
    WorkflowTemplateRef,
)
from hera.workflows.models import Parameter as ModelParameter

from argo_papermill._version import __version__
from argo_papermill.config import ProcessorConfig
from argo_papermill.contract import (
    ANNOTATION_DEFAULT_CONTAINER,
    CONDA_VOLUME,
    EXTRA_PVC_VOLUME_PREFIX,
    GIT_MOUNT_PATH,
    GIT_VOLUME,
    HOME_VOLUME,
    S3_VOLUME,
    SECRET_MOUNT_DIR,
    SECRET_VOLUME_PREFIX,
    TMP_PATH,
    TMP_VOLUME,
    ANNOTATION_TEMPLATE_CONFIG,
    CONTAINER_GIT,
    CONTAINER_MAIN,
    CONTAINER_PAPERMILL,
    CONTAINER_S3,
    ENV_ERROR_FILE,
    ERROR_RECORD_PATH,
    JOB_HOME,
    LABEL_MANAGED_BY,
    LABEL_VERSION,
    MANAGED_BY,
    OUTPUT_ERROR,
    OUTPUT_RESULT_ARTIFACT,
    OUTPUT_RESULT_HTML_ARTIFACT,
    RESULT_HTML_COPY,
    ENV_RENDER_HTML,
    PAPERMILL_ENGINE,
    RESULT_NOTEBOOK_COPY,
    TEMPLATE_NOTEBOOK,
    WORKSPACE_PATH,
    WORKSPACE_VOLUME,
)
from argo_papermill.translate import plan as p
from argo_papermill.translate.scripts import GIT_SCRIPT, MAIN_COMMAND, PAPERMILL_SCRIPT, S3_SCRIPT

Mode = Literal["inline", "template"]



def param(name: str) -> str:
    return "{{workflow.parameters." + name + "}}"


# ----------------------------------------------------------------------------------------------
# pod fields that depend on the request


def _affinity(key: str, operator: str, value: str) -> Affinity:
    return Affinity(
        node_affinity=NodeAffinity(
            required_during_scheduling_ignored_during_execution=NodeSelector(
                node_selector_terms=[
                    NodeSelectorTerm(
                        match_expressions=[NodeSelectorRequirement(key=key, operator=operator, values=[value])]
                    )
                ]
            )
        )
    )


def node_affinity(config: ProcessorConfig, node_purpose: str | None) -> Affinity | None:
    if node_purpose is None:
        return None
    return _affinity(config.node_purpose_label_key, "In", node_purpose)


def has_node_purposes(config: ProcessorConfig) -> bool:
    """Whether a job can have a node purpose at all (a default, or requests may choose one)."""
    return bool(config.default_node_purpose or config.allowed_node_purposes_regex)


def node_purpose_arguments(node_purpose: str | None) -> dict[str, str]:
    """Template mode: ``In [purpose]``, or, for none, ``NotIn [""]`` (every node without an empty purpose
    label: no constraint in practice), so the affinity keeps one structure."""
    if node_purpose is None:
        return {p.P_NODE_PURPOSE: "", p.P_NODE_PURPOSE_OPERATOR: "NotIn"}
    return {p.P_NODE_PURPOSE: node_purpose, p.P_NODE_PURPOSE_OPERATOR: "In"}


def env_from(config: ProcessorConfig, extra_secrets: tuple[str, ...] = ()) -> list[EnvFromSource] | None:
    names = [s.name for s in config.secrets if s.access == "env"] + list(extra_secrets)
    return [EnvFromSource(secret_ref=SecretEnvSource(name=n)) for n in dict.fromkeys(names)] or None


def resource_slots(config: ProcessorConfig) -> list[tuple[str, str]]:
    """Template mode: the papermill (section, kind) pairs that parameters fill: cpu and memory requests and
    limits, but for those ``extra_resource_*`` fixes in the template (they win over request values)."""
    extra = {"requests": config.extra_resource_requests, "limits": config.extra_resource_limits}
    return [(section, kind) for (section, kind) in p.P_RESOURCE if kind not in extra[section]]


def template_pod_spec_patch(config: ProcessorConfig) -> str | None:
    """The WorkflowTemplate's constant podSpecPatch: papermill's cpu and memory from integer parameters.

    Argo substitutes a parameter's raw value into the patch text (it escapes it only for the template's own
    JSON, ``SubstituteParams``), so a plain ``{{workflow.parameters.x}}`` here could close the string and add
    any pod field; ``asInt()`` (an Argo expression, v3.1 to v4.x) yields an integer or fails the pod.
    """
    slots = resource_slots(config)
    if not slots:
        return None
    resources: dict[str, dict[str, str]] = {}
    for section, kind in slots:
        value = "{{=asInt(workflow.parameters['" + p.P_RESOURCE[(section, kind)] + "'])}}"
        resources.setdefault(section, {})[kind] = value + ("m" if kind == "cpu" else "")
    patch = {"containers": [{"name": CONTAINER_PAPERMILL, "resources": resources}]}
    return json.dumps(patch, separators=(",", ":"))


def resource_arguments(config: ProcessorConfig, resources: dict[str, dict[str, str]]) -> dict[str, str]:
    """Template mode: the integer parameters of the resource slots for papermill's resolved resources."""
    return {
        p.P_RESOURCE[(section, kind)]: p.quantity_integer(kind, resources[section][kind])
        for section, kind in resource_slots(config)
    }


# ----------------------------------------------------------------------------------------------
# volumes


def _volumes(config: ProcessorConfig) -> tuple[list[Volume], list[VolumeMount]]:
    """Template volumes and the papermill container's mounts (the workspace is mounted for all)."""
    volumes = [Volume(name=WORKSPACE_VOLUME, empty_dir=EmptyDirVolumeSource())]
    mounts: list[VolumeMount] = []
    # /tmp of git-checkout and papermill: writable under a read-only root filesystem (a controller default)
    volumes.append(Volume(name=TMP_VOLUME, empty_dir=EmptyDirVolumeSource()))
    mounts.append(VolumeMount(name=TMP_VOLUME, mount_path=TMP_PATH))
    if config.home_volume_claim_name:
        volumes.append(
            Volume(
                name=HOME_VOLUME,
                persistent_volume_claim=PersistentVolumeClaimVolumeSource(claim_name=config.home_volume_claim_name),
            )
        )
    else:
        volumes.append(Volume(name=HOME_VOLUME, empty_dir=EmptyDirVolumeSource()))
    mounts.append(VolumeMount(name=HOME_VOLUME, mount_path=JOB_HOME))
    if config.checkout_git_repo is not None:
        volumes.append(Volume(name=GIT_VOLUME, empty_dir=EmptyDirVolumeSource()))
        mounts.append(VolumeMount(name=GIT_VOLUME, mount_path=GIT_MOUNT_PATH))
    if config.s3 is not None:
        volumes.append(Volume(name=S3_VOLUME, empty_dir=EmptyDirVolumeSource()))
        mounts.append(VolumeMount(name=S3_VOLUME, mount_path=config.s3.mount_path, mount_propagation="HostToContainer"))
    for i, pvc in enumerate(config.extra_pvcs):
        name = f"{EXTRA_PVC_VOLUME_PREFIX}{i}"
        volumes.append(
            Volume(name=name, persistent_volume_claim=PersistentVolumeClaimVolumeSource(claim_name=pvc.claim_name))
        )
        mounts.append(VolumeMount(name=name, mount_path=pvc.mount_path, sub_path=pvc.sub_path))
    volumes.extend(Volume.model_validate(v) for v in config.extra_volumes)
    mounts.extend(VolumeMount.model_validate(m) for m in config.extra_volume_mounts)
    for i, secret in enumerate(s for s in config.secrets if s.access == "mount"):
        name = f"{SECRET_VOLUME_PREFIX}{i}"
        volumes.append(Volume(name=name, secret=SecretVolumeSource(secret_name=secret.name)))
        mounts.append(VolumeMount(name=name, mount_path=f"{SECRET_MOUNT_DIR}/{secret.name}", read_only=True))
    if config.conda_store_groups:
        volumes.append(
            Volume(
                name=CONDA_VOLUME,
                persistent_volume_claim=PersistentVolumeClaimVolumeSource(
                    claim_name=config.conda_store_claim_name, read_only=True
                ),
            )
        )
        for group in config.conda_store_groups:
            mounts.append(
                VolumeMount(name=CONDA_VOLUME, mount_path=f"/home/conda/{group}", sub_path=group, read_only=True)
            )
    return volumes, mounts


# ----------------------------------------------------------------------------------------------
# containers

# Explicit resources of the helper containers: a workflow-controller's ``mainContainer`` default is merged
# into every container of a containerSet (``createWorkflowPod``, workflowpod.go, v3.6 to v4.x) and would
# otherwise decide them (the emissary, Argo's Go binary, runs inside each container and needs ~30 MiB).
GIT_RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
MAIN_RESOURCES = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "128Mi"}}


def _unprivileged(config: ProcessorConfig, read_only_root: bool | None) -> SecurityContext:
    """git-checkout, papermill and main: the pod's user (jovyan, 1000, unless configured), no privilege
    escalation, no capabilities, the runtime's seccomp profile; set on the container itself so that the
    controller's ``mainContainer`` default, merged into every container, neither contradicts it (e.g.
    ``runAsNonRoot`` with a root user) nor leaves it to the image."""
    return SecurityContext(
        run_as_user=config.pod_user,
        run_as_group=config.pod_group,
        run_as_non_root=config.pod_user != 0,
        allow_privilege_escalation=False,
        capabilities=Capabilities(drop=["ALL"]),
        seccomp_profile=SeccompProfile(type="RuntimeDefault"),
        read_only_root_filesystem=read_only_root,
    )


def _s3_security() -> SecurityContext:
    """s3-mount: root and privileged (a FUSE mount with Bidirectional propagation: Kubernetes allows that
    propagation to privileged containers only); every field a ``mainContainer`` default could set is set, so
    its ``runAsNonRoot``, ``allowPrivilegeEscalation: false`` (refused beside ``privileged``) or
    ``readOnlyRootFilesystem`` cannot reach this container."""
    return SecurityContext(
        privileged=True,
        allow_privilege_escalation=True,
        run_as_user=0,
        run_as_group=0,
        run_as_non_root=False,
        read_only_root_filesystem=False,
    )


def _secret_env(name: str, secret: str, key: str) -> EnvVar:
    return EnvVar(name=name, value_from=EnvVarSource(secret_key_ref=SecretKeySelector(name=secret, key=key)))


def _git_container(config: ProcessorConfig) -> ContainerNode:
    git = config.checkout_git_repo
    assert git is not None
    # HOME on the writable /tmp volume: the root filesystem may be read-only (a controller default)
    env = [EnvVar(name="GIT_TERMINAL_PROMPT", value="0"), EnvVar(name="HOME", value=TMP_PATH)]
    if git.secret_name:
        env += [
            _secret_env("GIT_USERNAME", git.secret_name, "username"),
            _secret_env("GIT_PASSWORD", git.secret_name, "password"),
        ]
    return ContainerNode(
        name=CONTAINER_GIT,
        image=git.image or config.default_image,
        command=["sh", "-c", GIT_SCRIPT],
        args=[CONTAINER_GIT, git.url, param(p.P_GIT_REVISION)],
        env=env,
        resources=ResourceRequirements(**GIT_RESOURCES),
        volume_mounts=[
            VolumeMount(name=GIT_VOLUME, mount_path=GIT_MOUNT_PATH),
            VolumeMount(name=TMP_VOLUME, mount_path=TMP_PATH),
        ],
        security_context=_unprivileged(config, read_only_root=True),
    )


def s3fs_options(config: ProcessorConfig) -> str:
    s3 = config.s3
    assert s3 is not None
    opts = ["allow_other", f"uid={config.pod_user}", f"gid={config.pod_group}", "mp_umask=002"]
    if s3.s3_url:
        opts.append(f"url={s3.s3_url}")
    if s3.path_style:
        opts.append("use_path_request_style")
    return ",".join(opts)


def _s3_container(config: ProcessorConfig) -> ContainerNode:
    s3 = config.s3
    assert s3 is not None
    return ContainerNode(
        name=CONTAINER_S3,
        image=s3.image or config.default_image,
        command=["sh", "-c", S3_SCRIPT],
        args=[CONTAINER_S3, s3.bucket_name, s3.mount_path, s3fs_options(config), str(s3.mount_timeout_seconds)],
        env=[
            _secret_env("AWS_ACCESS_KEY_ID", s3.secret_name, "username"),
            _secret_env("AWS_SECRET_ACCESS_KEY", s3.secret_name, "password"),
        ],
        resources=ResourceRequirements(
            limits=s3.limits,
            requests=s3.requests,
        ),
        volume_mounts=[VolumeMount(name=S3_VOLUME, mount_path=s3.mount_path, mount_propagation="Bidirectional")],
        security_context=_s3_security(),
    )


def papermill_args(config: ProcessorConfig) -> list[str]:
    """The positional argv after PAPERMILL_SCRIPT (see scripts.py for the slots)."""
    return [
        CONTAINER_PAPERMILL,
        param(p.P_NOTEBOOK),
        param(p.P_OUTPUT),
        param(p.P_CWD),
        param(p.P_KERNEL),
        param(p.P_PARAMETERS),
        "true" if config.log_output else "false",
        PAPERMILL_ENGINE if config.progress_engine else "",
        str(config.s3.mount_timeout_seconds) if config.s3 is not None else "0",
        param(p.P_RESULTS),
        param(p.P_DATA_DIR),
        config.output_directory,
    ]


def _papermill_container(
    config: ProcessorConfig,
    mounts: list[VolumeMount],
    resources: dict[str, dict[str, str]],
    extra_secrets: tuple[str, ...],
) -> ContainerNode:
    env = [
        EnvVar(name="JOB_NAME", value="{{workflow.name}}"),
        EnvVar(name="HOME", value=JOB_HOME),
        EnvVar(name="JUPYTER_IMAGE", value=param(p.P_IMAGE)),
        EnvVar(name="RESULTS_DIRECTORY", value=param(p.P_RESULTS)),
        EnvVar(name="RESULT_DATA_DIRECTORY", value=param(p.P_DATA_DIR)),
    ]
    if config.progress_engine:
        env.append(EnvVar(name=ENV_ERROR_FILE, value=ERROR_RECORD_PATH))
    if config.result_artifact:
        env.append(EnvVar(name=ENV_RENDER_HTML, value="true"))
    if config.conda_store_groups:
        env.append(
            EnvVar(name="CONDA_ENVS_PATH", value=":".join(f"/home/conda/{g}/envs" for g in config.conda_store_groups))
        )
    return ContainerNode(
        name=CONTAINER_PAPERMILL,
        image=param(p.P_IMAGE),
        command=["sh", "-c", PAPERMILL_SCRIPT],
        args=papermill_args(config),
        working_dir=JOB_HOME,
        env=env,
        env_from=env_from(config, extra_secrets),
        resources=ResourceRequirements(**resources) if resources else None,
        volume_mounts=mounts or None,
        dependencies=[CONTAINER_GIT] if config.checkout_git_repo is not None else None,
        # the root filesystem stays as the cluster sets it: papermill needs only its home and /tmp (volumes)
        # to write, but a notebook may install into the image (pip) where the operator allows that
        security_context=_unprivileged(config, read_only_root=None),
    )


# How Argo's controller signals a container (SIGTERM on a stop, a deadline, or when another container exited
# non-zero; then SIGKILL): a command it runs in the container with pods/exec. By default that is
# /var/run/argo/argoexec, copied into the shared var-run-argo emptyDir by the init container and replaceable
# by the notebook (same user); run in the root, privileged s3-mount that is root on the node. The per-container
# annotation (``workflows.argoproj.io/kill-cmd-<container>``, workflow/signal/signal.go, v3.6.19 to v4.1.2;
# it overrides v4.1's init-less /argo-bin path too) makes it the image's own shell, which no container of the
# pod can write: ``kill -<signal> 1`` reaches the emissary (PID 1), which forwards it to the step's process
# group as ``argoexec kill`` would.
KILL_COMMAND = json.dumps(["/bin/sh", "-c", "kill -%d 1"], separators=(",", ":"))


def kill_command_annotation(container: str) -> str:
    return f"workflows.argoproj.io/kill-cmd-{container}"


def pod_annotations(containers: list[str]) -> dict[str, str]:
    """Annotations of the job pod (the template's ``metadata``, which Argo copies onto the pod after its own).

    ``kubectl.kubernetes.io/default-container``: Argo sets it to ``main`` when a container has that name
    (``createWorkflowPod``, v3.6 to v4.1), whose log is empty; ``kubectl logs`` and the Argo UI's log view
    should open papermill's. ``workflows.argoproj.io/kill-cmd-<container>`` for every container: see
    ``KILL_COMMAND``.
    """
    annotations = {ANNOTATION_DEFAULT_CONTAINER: CONTAINER_PAPERMILL}
    for container in containers:
        annotations[kill_command_annotation(container)] = KILL_COMMAND
    return annotations


def container_names(config: ProcessorConfig) -> list[str]:
    """The containers of the ``notebook`` containerSet, in the pod's order."""
    names = [CONTAINER_GIT] if config.checkout_git_repo is not None else []
    if config.s3 is not None:
        names.append(CONTAINER_S3)
    return names + [CONTAINER_PAPERMILL, CONTAINER_MAIN]


def notebook_template(
    config: ProcessorConfig,
    mode: Mode,
    *,
    resources: dict[str, dict[str, str]] | None = None,
    node_purpose: str | None = None,
    pod_labels: dict[str, str] | None = None,
    extra_secrets: tuple[str, ...] = (),
) -> ContainerSet:
    """The ``notebook`` containerSet (must be built inside a hera Workflow context)."""
    volumes, mounts = _volumes(config)
    if mode == "template":
        # per-request values arrive through parameters; the template itself holds the config's baseline
        base: dict[str, dict[str, str]] = {}
        if config.extra_resource_requests:
            base["requests"] = dict(config.extra_resource_requests)
        if config.extra_resource_limits:
            base["limits"] = dict(config.extra_resource_limits)
        resources = base
        affinity = (
            _affinity(config.node_purpose_label_key, param(p.P_NODE_PURPOSE_OPERATOR), param(p.P_NODE_PURPOSE))
            if has_node_purposes(config)
            else None
        )
        labels = {p.FARGATE_LABEL[0]: param(p.P_RUNTIME)} if config.allow_fargate else None
        spec_patch = template_pod_spec_patch(config)
        extra_secrets = ()
    else:
        affinity = node_affinity(config, node_purpose)
        labels = pod_labels or None
        spec_patch = None
    outputs = Outputs(
        parameters=[ModelParameter(name=OUTPUT_ERROR, value_from=ValueFrom(path=ERROR_RECORD_PATH, default=""))],
        artifacts=[
            Artifact(
                name=OUTPUT_RESULT_ARTIFACT,
                path=RESULT_NOTEBOOK_COPY,
                optional=True,
                archive=ArchiveStrategy(none=NoneStrategy()),
            ),
            # the same notebook as HTML (rendered in the pod where the image has nbconvert): stored as is, with
            # a key ending .html, which the Argo UI previews (it only offers an .ipynb for download)
            Artifact(
                name=OUTPUT_RESULT_HTML_ARTIFACT,
                path=RESULT_HTML_COPY,
                optional=True,
                archive=ArchiveStrategy(none=NoneStrategy()),
            ),
        ]
        if config.result_artifact
        else None,
    )
    with ContainerSet(
        name=TEMPLATE_NOTEBOOK,
        volumes=volumes,
        volume_mounts=[VolumeMount(name=WORKSPACE_VOLUME, mount_path=WORKSPACE_PATH)],
        outputs=outputs,
        affinity=affinity,
        tolerations=[Toleration.model_validate(t) for t in config.tolerations] or None,
        service_account_name=config.job_service_account,
        # with an executor account of its own (workflowtaskresults for the wait container, mounted as
        # exec-sa-token), no container of the pod gets a service account token: the notebook cannot use the
        # job account's. Argo allows automountServiceAccountToken: false only beside executor.serviceAccountName
        # (setupServiceAccount, workflowpod.go, v3.6 to v4.x).
        executor=ExecutorConfig(service_account_name=config.executor_service_account)
        if config.executor_service_account
        else None,
        automount_service_account_token=False if config.executor_service_account else None,
        pod_security_context=PodSecurityContext(run_as_user=config.run_as_user, run_as_group=config.run_as_group)
        if config.run_as_user is not None or config.run_as_group is not None
        else None,
        labels=labels,
        annotations=pod_annotations(container_names(config)),
        pod_spec_patch=spec_patch,
    ) as template:
        if config.checkout_git_repo is not None:
            _git_container(config)
        if config.s3 is not None:
            _s3_container(config)
        _papermill_container(config, mounts, resources or {}, extra_secrets)
        # main depends on nothing: with ``dependencies: [papermill]`` a failed papermill made main's emissary
        # exit 64 ("dependency ... exited with non-zero code"), an Error node that Argo (which sorts container
        # statuses by name) then named in the Pod node's and the Workflow's message. The wait container
        # waits for every container of the pod before it reads the outputs anyway (emissary isComplete).
        ContainerNode(
            name=CONTAINER_MAIN,
            image=param(p.P_IMAGE),
            command=list(MAIN_COMMAND),
            resources=ResourceRequirements(**MAIN_RESOURCES),
            security_context=_unprivileged(config, read_only_root=True),
        )
    return template


# ----------------------------------------------------------------------------------------------
# workflows


def _ttl(config: ProcessorConfig) -> TTLStrategy | None:
    if config.workflow_ttl_seconds is None:
        return None
    return TTLStrategy(seconds_after_completion=config.workflow_ttl_seconds)


def _pod_gc(config: ProcessorConfig) -> PodGC | None:
    return PodGC(strategy=config.pod_gc_strategy) if config.pod_gc_strategy else None


def _archive_logs(config: ProcessorConfig) -> bool | None:
    """With an artifact repository (``result_artifact``) every container's log is archived there
    (``<container>-logs``), so ``GET /jobs/{id}/logs`` still answers once the pod is gone."""
    return True if config.result_artifact else None


def inline_workflow(config: ProcessorConfig, plan: p.JobPlan, extra_secrets: tuple[str, ...] = ()) -> Workflow:
    """The complete Workflow of one execution, templates inlined."""
    req = plan.request
    with Workflow(
        name=plan.name,
        labels=dict(plan.labels),
        annotations=dict(plan.annotations),
        entrypoint=TEMPLATE_NOTEBOOK,
        arguments=[Parameter(name=k, value=v) for k, v in plan.arguments(config).items()],
        image_pull_secrets=[config.image_pull_secret] if config.image_pull_secret else None,
        active_deadline_seconds=req.timeout_seconds,
        ttl_strategy=_ttl(config),
        pod_gc=_pod_gc(config),
        archive_logs=_archive_logs(config),
    ) as workflow:
        notebook_template(
            config,
            "inline",
            resources=p.papermill_resources(config, req.resources),
            node_purpose=req.node_purpose,
            pod_labels=plan.pod_labels,
            extra_secrets=extra_secrets,
        )
    return workflow


def template_ref_workflow(config: ProcessorConfig, plan: p.JobPlan, extra_secrets: tuple[str, ...] = ()) -> Workflow:
    """The small Workflow that references the installed WorkflowTemplate: metadata and allowed fields only."""
    req = plan.request
    if extra_secrets:  # the configuration refuses auto_mount_secrets in template mode
        raise ValueError("template mode cannot add Secrets per job (auto_mount_secrets)")
    arguments = plan.arguments(config)
    arguments.update(resource_arguments(config, p.papermill_resources(config, req.resources)))
    if has_node_purposes(config):
        arguments.update(node_purpose_arguments(req.node_purpose))
    if config.allow_fargate:
        arguments[p.P_RUNTIME] = p.FARGATE_LABEL[1] if req.run_on_fargate else ""
    return Workflow(
        name=plan.name,
        labels=dict(plan.labels),
        annotations=dict(plan.annotations),
        workflow_template_ref=WorkflowTemplateRef(name=config.workflow_template_name),
        arguments=[Parameter(name=k, value=v) for k, v in arguments.items()],
        active_deadline_seconds=req.timeout_seconds,
        ttl_strategy=_ttl(config),
        pod_gc=_pod_gc(config),
        archive_logs=_archive_logs(config),
    )


def template_parameters(config: ProcessorConfig) -> list[Parameter]:
    """The WorkflowTemplate's parameters and their defaults (only ``notebook`` is required)."""
    params = [
        Parameter(name=p.P_NOTEBOOK, description="notebook path in the pod (a relative one is under /home/jovyan)"),
        Parameter(name=p.P_OUTPUT, value="", description="output notebook; empty: in the results directory"),
        Parameter(name=p.P_CWD, value="", description="working directory; empty: the notebook's folder"),
        Parameter(name=p.P_KERNEL, value="", description="kernel name; empty: the notebook's"),
        Parameter(name=p.P_PARAMETERS, value="", description="notebook parameters as base64-encoded YAML"),
        # without allowed_images_regex only the default image is allowed: Argo refuses another value (enum)
        Parameter(name=p.P_IMAGE, value=config.default_image, description="image of the papermill step",
                  enum=None if config.allowed_images_regex else [config.default_image]),
        Parameter(name=p.P_RESULTS, value="", description="results directory; empty: <output dir>/<workflow>"),
        Parameter(name=p.P_DATA_DIR, value="", description="extra folder to create for result data"),
    ]
    if config.checkout_git_repo is not None:
        params.append(Parameter(name=p.P_GIT_REVISION, value="", description="git revision; empty: default branch"))
    defaults = resource_arguments(config, p.papermill_resources(config, {}))
    for section, kind in resource_slots(config):
        name = p.P_RESOURCE[(section, kind)]
        unit = "millicores" if kind == "cpu" else "bytes"
        params.append(Parameter(name=name, value=defaults[name], description=f"papermill's {kind} {section} in {unit}"))
    if has_node_purposes(config):
        for name, value in node_purpose_arguments(config.default_node_purpose).items():
            if name == p.P_NODE_PURPOSE_OPERATOR:
                params.append(Parameter(name=name, value=value, enum=["In", "NotIn"],
                                        description="'In' with a node purpose, 'NotIn' with '' for none"))
            else:
                params.append(Parameter(name=name, value=value, description="node purpose (a label value)"))
    if config.allow_fargate:
        params.append(Parameter(name=p.P_RUNTIME, value="", enum=["", p.FARGATE_LABEL[1]],
                                description="'fargate' to run on Fargate"))
    return params


def workflow_template(config: ProcessorConfig, fingerprint: str | None = None) -> WorkflowTemplate:
    """The reusable WorkflowTemplate, rendered from the same builder as the inline Workflow."""
    annotations = {
        "workflows.argoproj.io/description": "Runs a parameterised Jupyter notebook with papermill "
        "(argo-papermill, execute-notebook). Submit with at least the 'notebook' parameter.",
    }
    if fingerprint:
        annotations[ANNOTATION_TEMPLATE_CONFIG] = fingerprint
    with WorkflowTemplate(
        name=config.workflow_template_name,
        labels={LABEL_MANAGED_BY: MANAGED_BY, LABEL_VERSION: __version__},
        annotations=annotations,
        entrypoint=TEMPLATE_NOTEBOOK,
        arguments=template_parameters(config),
        image_pull_secrets=[config.image_pull_secret] if config.image_pull_secret else None,
        active_deadline_seconds=config.default_timeout_seconds,
        ttl_strategy=_ttl(config),
        pod_gc=_pod_gc(config),
        archive_logs=_archive_logs(config),
    ) as template:
        notebook_template(config, "template")
    return template

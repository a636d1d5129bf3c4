"""Sub-commands of ``argo-papermill`` (see ``argo_papermill.cli``)."""

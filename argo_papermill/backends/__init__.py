"""Where Workflows live: the Kubernetes API, an Argo Server, or the embedded engine."""

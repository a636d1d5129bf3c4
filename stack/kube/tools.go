//go:build tools

// Keeps k8s.io/kubernetes in go.mod: scripts/argo-stack builds k8s.io/kubernetes/cmd/kube-apiserver.
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver/app"

//go:build tools

// Package helm only names the command scripts/build-helm.sh builds, so that `go mod tidy`
// keeps its dependencies in go.sum.
package helm

import (
	_ "helm.sh/helm/v4/cmd/helm"
)

//go:build tools

// Package tools pins the Pulumi CLI for scripts/engine.sh: go.mod and go.sum hold its exact
// module versions; the CLI's own source stays in the Go module cache.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"

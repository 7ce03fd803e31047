//go:build tools

// Package tools pins pulumi-resource-command for scripts/engine.sh: its source is the upstream
// archive (unpacked into .engine/src by the script, never committed); go.mod and go.sum hold the
// exact versions of every module it needs.
package tools

import _ "github.com/pulumi/pulumi-command/provider/cmd/pulumi-resource-command"

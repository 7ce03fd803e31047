//go:build tools

// Package tools pins actionlint, the GitHub Actions workflow linter the tests run
// (scripts/actionlint.sh builds it from the Go module proxy).
package tools

import _ "github.com/rhysd/actionlint/cmd/actionlint"

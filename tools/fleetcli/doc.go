// Package fleetcli is a build wrapper, not code: go.mod pins the Fleet CLI (`tool` directive) with
// the replace directives copied from Fleet's own go.mod, because `go install` of a module that has
// replace directives fails. mk/gitops.mk builds the binary with
// `go build -o .tools/bin/fleet github.com/rancher/fleet/cmd/fleetcli` from this folder.
// The CLI's main package imports Fleet's internal packages, so it cannot be re-exported from here.
package fleetcli

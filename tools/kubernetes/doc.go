// Package kubernetes only pins the Kubernetes control-plane engines of the rollout rehearsal
// (see go.mod and mk/rehearsal.mk); it has no code of its own.
package kubernetes

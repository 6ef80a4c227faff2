// Command etcd is the rehearsal's storage for each Kubernetes control plane: etcd's own server
// main, built from the Go module proxy. Debian's etcd 3.4 lacks the watch-progress requests that a
// 1.35 API server relies on, so Fleet's watches would silently never fire.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }

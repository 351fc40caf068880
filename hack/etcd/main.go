// etcd, built from the published etcd server module for the tests' control plane.
// The body is etcd's own main.go of the same release.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}

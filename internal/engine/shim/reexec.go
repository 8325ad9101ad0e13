package shim

import "os"

// Arg is argv[1] of a re-executed shim: `berth __shim DIR`.
const Arg = "__shim"

// The shim takes over in this init, before main and before most other
// packages initialize: the berth binary links Kubernetes, etcd and gRPC,
// whose package inits would cost every container tens of milliseconds and
// tens of MiB of RSS. Go initializes a package as soon as its imports are
// (in import-path order among the ready ones), and this package imports
// only the standard library, so it runs early. cmd/berth still registers
// Main as the `__shim` re-exec handler, which is what runs if this init is
// ever moved behind a heavy import.
func init() {
	if len(os.Args) > 2 && os.Args[1] == Arg {
		os.Exit(Main())
	}
}

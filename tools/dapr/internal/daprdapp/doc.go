// Package app is github.com/dapr/dapr v1.18.3's cmd/daprd/app, copied
// (Apache License 2.0, The Dapr Authors) with exactly three lines removed:
//
//	// Register all components
//	_ "github.com/dapr/dapr/cmd/daprd/components"
//	(and the blank line after it)
//
// Why: that package registers every component behind the build tags
// `allcomponents` / `stablecomponents` (taking either builds every cloud SDK),
// and without them its zz_notag.go panics at init. go build -overlay cannot
// patch it either ("Files beneath GOMODCACHE must not be replaced"). So our
// daprd (cmd/daprd) imports this copy and registers only the suite's
// components itself. app.go is otherwise byte for byte upstream's; build.sh
// regenerates it from the module cache and refuses to build if it differs
// (e.g. after the Dapr version in go.mod changed): update it with
// `./build.sh --sync-app`.
package app

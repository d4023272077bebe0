// Command scheduler is Dapr v1.18.3's Scheduler service
// (github.com/dapr/dapr/cmd/scheduler/app), unchanged: standalone mode with
// its embedded etcd.
package main

import (
	"github.com/dapr/dapr/cmd/scheduler/app"
)

func main() {
	app.Run()
}

// Command daprd is Dapr v1.18.3's sidecar (github.com/dapr/dapr/cmd/daprd/app)
// with only the components the Todo Suite uses registered.
//
// Upstream registers components in github.com/dapr/dapr/cmd/daprd/components,
// one file per component, each behind `//go:build allcomponents ||
// stablecomponents` (either tag builds every cloud SDK); without those tags
// that package's zz_notag.go panics at init. internal/daprdapp is upstream's
// cmd/daprd/app minus its import of that package, so the registrations below
// are the only ones. Each is copied from the matching upstream file
// (state_sqlite.go, state_postgres.go, pubsub_kafka.go, ...).
package main

import (
	app "todo-suite/tools/dapr/internal/daprdapp"

	// Components (components-contrib, version pinned in go.mod).
	nrmdns "github.com/dapr/components-contrib/nameresolution/mdns"
	nrsqlite "github.com/dapr/components-contrib/nameresolution/sqlite"
	pubsubinmemory "github.com/dapr/components-contrib/pubsub/in-memory"
	"github.com/dapr/components-contrib/pubsub/kafka"
	"github.com/dapr/components-contrib/secretstores/kubernetes"
	"github.com/dapr/components-contrib/secretstores/local/env"
	"github.com/dapr/components-contrib/secretstores/local/file"
	stateinmemory "github.com/dapr/components-contrib/state/in-memory"
	pgv1 "github.com/dapr/components-contrib/state/postgresql/v1"
	pgv2 "github.com/dapr/components-contrib/state/postgresql/v2"
	"github.com/dapr/components-contrib/state/sqlite"

	// Dapr's registries.
	"github.com/dapr/dapr/pkg/components"
	nrLoader "github.com/dapr/dapr/pkg/components/nameresolution"
	pubsubLoader "github.com/dapr/dapr/pkg/components/pubsub"
	secretstoresLoader "github.com/dapr/dapr/pkg/components/secretstores"
	stateLoader "github.com/dapr/dapr/pkg/components/state"
)

func init() {
	// State stores: state.sqlite, state.postgresql (v1 default, v2), state.in-memory.
	stateLoader.DefaultRegistry.RegisterComponent(sqlite.NewSQLiteStateStore, "sqlite", "sqlite3")
	for _, name := range []string{"postgres", "postgresql"} {
		stateLoader.DefaultRegistry.RegisterComponentWithVersions(name, components.Versioning{
			Preferred: components.VersionConstructor{Version: "v2", Constructor: pgv2.NewPostgreSQLStateStore},
			Others:    []components.VersionConstructor{{Version: "v1", Constructor: pgv1.NewPostgreSQLStateStore}},
			Default:   "v1",
		})
	}
	stateLoader.DefaultRegistry.RegisterComponent(stateinmemory.NewInMemoryStateStore, "in-memory")

	// Pub/sub: pubsub.in-memory, pubsub.kafka.
	pubsubLoader.DefaultRegistry.RegisterComponent(pubsubinmemory.New, "in-memory")
	pubsubLoader.DefaultRegistry.RegisterComponent(kafka.NewKafka, "kafka")

	// Secret stores: secretstores.local.file, secretstores.local.env, secretstores.kubernetes.
	secretstoresLoader.DefaultRegistry.RegisterComponent(file.NewLocalSecretStore, "local.file")
	secretstoresLoader.DefaultRegistry.RegisterComponent(env.NewEnvSecretStore, "local.env")
	secretstoresLoader.DefaultRegistry.RegisterComponent(kubernetes.NewKubernetesSecretStore, "kubernetes")

	// Name resolution: mdns is what daprd picks in standalone mode when the
	// Configuration names none; sqlite is the single-machine alternative.
	nrLoader.DefaultRegistry.RegisterComponent(nrmdns.NewResolver, "mdns")
	nrLoader.DefaultRegistry.RegisterComponent(nrsqlite.NewResolver, "sqlite")
}

func main() {
	app.Run()
}

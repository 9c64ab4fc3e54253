// Command ferretdb runs FerretDB v1.24 embedded, on its PostgreSQL or SQLite
// backend, for local Failstream runs and tests on machines without Docker.
//
// FerretDB's own cmd/ferretdb panics when built with `go install` from the
// module proxy (the release's version.txt is generated at release time and
// is not in the module zip), so this wrapper builds the same server from its
// public embeddable package instead. Telemetry is disabled by that package.
//
// The PostgreSQL URL comes from the environment, not a flag: it carries the
// cluster's password, and a process's environment is readable only by its
// owner while its command line is visible to every local user.
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	handler := flag.String("handler", "sqlite", "backend: sqlite or postgresql (URL in $FERRETDB_POSTGRESQL_URL)")
	dir := flag.String("sqlite-dir", "data", "directory for the SQLite databases")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	config := ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *listen},
		Logger:   logger,
		Handler:  *handler,
	}
	switch *handler {
	case "sqlite":
		if err := os.MkdirAll(*dir, 0o755); err != nil {
			log.Fatal(err)
		}
		config.SQLiteURL = "file:" + *dir + "/"
	case "postgresql":
		config.PostgreSQLURL = os.Getenv("FERRETDB_POSTGRESQL_URL")
		if config.PostgreSQLURL == "" {
			log.Fatal("-handler postgresql needs FERRETDB_POSTGRESQL_URL")
		}
	default:
		log.Fatalf("unknown -handler %q", *handler)
	}
	f, err := ferretdb.New(&config)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Printf("ferretdb (%s) listening on %s", *handler, *listen)
	if err := f.Run(ctx); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
}

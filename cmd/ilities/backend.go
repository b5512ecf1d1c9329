package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut"
	"github.com/ilities/ilities/sut/backend"
)

func newBackendCmd() *cobra.Command {
	var (
		spec, name, listen string
		workers, queue     int
		seed               int64
	)
	cmd := &cobra.Command{
		Use:   "backend [--spec YAML] [--name N] [--listen ADDR] [--workers K]",
		Short: "Serve one simulated backend as its own process, with a stats endpoint",
		Long: `Serve one simulated backend (a queueing station) until interrupted.
--spec takes the backend as a scenario's pool lists it (workers, queue,
service_time, cpu_burn, response_size, startup_delay, sessions); the other
flags override it. GET /.ilities/stats answers the backend's statistics as
JSON.`,
		Example: `  ilities backend --name app-1 --listen 127.0.0.1:9001 --workers 4 \
      --spec '{service_time: {dist: exponential, mean: 5ms}, sessions: true}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bc, err := scenario.ParseBackend(spec)
			if err != nil {
				return withCode(exitInvalid, err)
			}
			if cmd.Flags().Changed("name") || bc.Name == "default-1" { // default-1: the spec named none
				bc.Name = name
			}
			if cmd.Flags().Changed("workers") {
				bc.Workers = workers
			}
			if cmd.Flags().Changed("queue") {
				bc.Queue = &queue
			}
			if workers < 1 || queue < 0 {
				return withCode(exitInvalid, fmt.Errorf("--workers must be at least 1 and --queue 0 or more"))
			}
			cfg := sut.BackendConfig(seed, bc)
			cfg.Control = true
			b := backend.New(cfg)
			if err := b.Start(listen); err != nil {
				return withCode(exitRun, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backend %s serving at %s (stats: %s%sstats)\n", bc.Name, b.URL(), b.URL(), backend.ControlPath)
			<-cmd.Context().Done()
			return b.Close()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&spec, "spec", "", "the backend in YAML, as in a scenario's pool")
	fl.StringVar(&name, "name", "backend", "node name (the X-Ilities-Backend header)")
	fl.StringVar(&listen, "listen", "127.0.0.1:0", "listen address")
	fl.IntVar(&workers, "workers", 1, "requests served at once")
	fl.IntVar(&queue, "queue", scenario.DefaultQueue, "requests waiting for a worker")
	fl.Int64Var(&seed, "seed", scenario.DefaultSeed, "seed of the service-time draws")
	return cmd
}

package sut

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ilities/ilities/scenario"
)

// crash-proxy: one proxy replica (node: proxy-N, 1-based; default proxy-1)
// stops abruptly: its listener and client connections close, requests in
// progress there fail, and clients connecting to it are refused. Lifted, it
// restarts on the same address with fresh balancer and health state.
func init() {
	registerFault("crash-proxy", func(t *Topology, f scenario.Fault) (Lift, error) {
		i, err := ReplicaIndex(f.Node)
		if err != nil {
			return nil, err
		}
		if err := t.CrashProxy(i); err != nil {
			return nil, err
		}
		return func() error { return t.RestartProxy(i) }, nil
	})
}

// ReplicaName is the node name of proxy replica i (0-based): "proxy-<i+1>".
func ReplicaName(i int) string { return "proxy-" + strconv.Itoa(i+1) }

// ReplicaIndex reads a replica's node name ("proxy-2"; "" is proxy-1) into
// its 0-based index.
func ReplicaIndex(name string) (int, error) {
	if name == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimPrefix(name, "proxy-"))
	if !strings.HasPrefix(name, "proxy-") || err != nil || n < 1 {
		return 0, fmt.Errorf("a proxy replica is named proxy-1, proxy-2, ...; got %q", name)
	}
	return n - 1, nil
}

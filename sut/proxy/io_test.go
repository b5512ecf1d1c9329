package proxy

import (
	"strings"
	"testing"
)

// The loops' IO path: the configuration's, else the environment's, else
// io_uring; anything else is refused, naming both places it can come from.
func TestIOPathChoice(t *testing.T) {
	for _, tc := range []struct {
		cfg, env, want, err string
	}{
		{want: IOUring},
		{cfg: IOEpoll, want: IOEpoll},
		{env: IOEpoll, want: IOEpoll},
		{cfg: IOUring, env: IOEpoll, want: IOUring},
		{cfg: "kqueue", err: `io "kqueue" (or $ILITIES_PROXY_IO): expected "epoll" or "uring"`},
		{env: "poll", err: `io "poll"`},
	} {
		t.Setenv(IOEnv, tc.env)
		cfg := Config{IO: tc.cfg}
		err := ApplyDefaults(&cfg)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("io %q, $%s %q: error %v, want one naming %q", tc.cfg, IOEnv, tc.env, err, tc.err)
			}
		case err != nil || cfg.IO != tc.want:
			t.Errorf("io %q, $%s %q: got %q (error %v), want %q", tc.cfg, IOEnv, tc.env, cfg.IO, err, tc.want)
		}
	}
}

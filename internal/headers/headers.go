// Package headers names the HTTP headers by which the built-in backends, the
// built-in proxy and the generator speak to each other: one list, which all
// three read.
package headers

const (
	// Node names the backend that answered; the proxy sets it on its own
	// 502/504 for the upstream that failed.
	Node = "X-Ilities-Backend"
	// Starting marks the 503 answers of a backend still starting up.
	Starting = "X-Ilities-Starting"
	// Load is a backend's account of its load, e.g.
	// "inflight=3;workers=8;queue=0"; the resource-aware strategy balances
	// on it.
	Load = "X-Ilities-Load"
	// Session says what became of the request's session: "lost" when the
	// backend did not know it.
	Session = "X-Ilities-Session"
	// ServerTiming carries a backend's own timing of a request, on its
	// clock: "queue;dur=<ms>, service;dur=<ms>".
	ServerTiming = "Server-Timing"
	// TimingQueue and TimingService are the Server-Timing entries: the wait
	// for a worker and the service. TimingCalls is a tier's time in its
	// calls to the tiers below, which holds the worker too.
	TimingQueue   = "queue"
	TimingService = "service"
	TimingCalls   = "calls"
	// FailedTier names, on a 502 of a backend whose call to another pool
	// failed, the pool where the failure started; every tier above passes
	// it up unchanged.
	FailedTier = "X-Ilities-Failed-Tier"
)

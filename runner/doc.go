// Package runner is the load engine: it turns a scenario's workloads into
// HTTP requests on one timeline and measures what became of each arrival.
//
// Guarantees of the open-loop engine:
//
//   - Arrivals follow a clock, whatever the target does. A Pacer gives each
//     arrival's intended send time from the workload's rate profile (a
//     constant rate, or ramps and holds): evenly spaced ("uniform", exactly
//     the integral of the rate, to within one arrival) or a Poisson process
//     (time-rescaled, seeded). The same scenario and seed give the same
//     arrivals and the same request mix.
//   - Latency is measured from the intended send time, so a slow target
//     cannot hide its slowness by delaying the generator (no coordinated
//     omission). Service latency, from the actual send, is kept beside it:
//     the difference is the time an arrival waited in the generator.
//   - At most max_inflight requests of a workload are in flight. An arrival
//     that finds every slot busy waits and is sent late; if it cannot be sent
//     within max_lateness of its intended time, or before the end of the run,
//     it is dropped and reported, never hidden.
//   - Every arrival ends as exactly one of succeeded, failed (with a class:
//     refused, reset, timeout, 5xx, 4xx, other, aborted) or dropped, so
//     scheduled = succeeded + failed + dropped holds for the run, for each
//     workload and for each one-second window (arrivals belong to the window
//     of their intended send time).
//   - Recording never goes through a shared lock on the request path: each
//     worker buffers its samples, and a collector merges them once a second
//     into HDR histograms. Per-second windows keep a histogram only until
//     no more samples can reach them, so memory stays flat over long runs.
//   - An interrupted run stops sending at once, waits briefly for requests
//     in flight, and returns what it measured, marked incomplete.
package runner

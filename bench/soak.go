package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"time"
)

// runSoak runs ilities attack at -soak-rate for -soak against the target
// and samples the generator's resident memory every 10 s: minute 1 against
// the end shows whether it grows.
func runSoak(cfg *config) error {
	target, err := startOrigin(filepath.Join(cfg.dir, "target"), cfg.targetWorkers, 1, cfg.fs)
	if err != nil {
		return fmt.Errorf("the soak's target: %w", err)
	}
	defer target.stop(cfg.fs)
	fmt.Printf("soak: ilities attack at %d/s for %s against nginx, resident memory every 10s\n", cfg.soakRate, cfg.soak)
	cmd := exec.Command(cfg.ilities, "attack", target.url()+"/", "--rate", fmt.Sprintf("%d/s", cfg.soakRate),
		"--duration", cfg.soak.String(), "--quiet", "--format", "json", "--allow-saturated")
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var samples []float64
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	start := time.Now()
	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("soak run: %w", err)
			}
			return reportSoak(samples, out.Bytes(), exited(cmd))
		case <-tick.C:
			mb := float64(cfg.fs.treeRSS(cmd.Process.Pid)) / 1024
			samples = append(samples, mb)
			fmt.Printf("  %6s  RSS %6.1f MB\n", time.Since(start).Round(time.Second), mb)
		}
	}
}

func reportSoak(samples []float64, out []byte, cpu float64) error {
	r, res, err := readIlities(out, cpu)
	if err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	if len(samples) < 7 {
		return fmt.Errorf("soak: too short to compare minute 1 with the end (%d samples)", len(samples))
	}
	peak := 0.0
	for _, v := range samples {
		peak = max(peak, v)
	}
	// Minute 1 is the sample at 60s: by then the buffers and the windows'
	// histograms have reached their steady size. What grows after it is the
	// per-second record the result keeps (one window a second).
	atMinute1, last := samples[5], samples[len(samples)-1]
	growthKBs := (last - atMinute1) * 1024 / (float64(len(samples)-6) * 10)
	fmt.Printf("soak: %d requests, dropped %d, saturated %v, CPU %.2fµs/req\n", r.requests, res.Totals.Dropped, res.Generator.Saturated, perRequest(cpu, r.requests))
	verdict := "MISSED"
	if peak < 64 && growthKBs < 10 {
		verdict = "ok"
	}
	fmt.Printf("soak: RSS at minute 1 %.1f MB, at the end %.1f MB (%+.1f KB/s), peak %.1f MB (target < 64 MB and flat) %s\n",
		atMinute1, last, growthKBs, peak, verdict)
	return nil
}

package runner

import (
	"bytes"

	"github.com/ilities/ilities/internal/headers"
)

// stationTiming is a built-in backend's own account of one request, read
// from its Server-Timing header ("queue;dur=<ms>, service;dur=<ms>"): how
// long the request waited for a worker and held one, on the station's
// clock, in microseconds. Both are 0 when the answer carried none (another
// server, an error). The verdicts read them as the part of the latency the
// tool's own delays cannot have made (report.Station).
type stationTiming struct {
	queueUS, serviceUS int32
}

func (t stationTiming) timed() bool { return t.queueUS > 0 || t.serviceUS > 0 }

// parseStationTiming reads a Server-Timing value, keeping the "queue" and
// "service" entries' durations and ignoring any other entry or parameter.
// It does not allocate: it runs for every answer of the built-in SUT.
func parseStationTiming(v []byte) stationTiming {
	var t stationTiming
	for len(v) > 0 {
		entry := v
		if i := bytes.IndexByte(v, ','); i >= 0 {
			entry, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		name, params, _ := bytes.Cut(bytes.TrimSpace(entry), []byte(";"))
		us, ok := durationParam(params)
		if !ok {
			continue
		}
		switch string(name) {
		case headers.TimingQueue:
			t.queueUS = us
		case headers.TimingService:
			t.serviceUS = us
		}
	}
	return t
}

// durationParam finds "dur=<ms>" among a Server-Timing entry's parameters
// and returns it in microseconds (decimals past the third are dropped).
func durationParam(params []byte) (int32, bool) {
	for len(params) > 0 {
		p := params
		if i := bytes.IndexByte(params, ';'); i >= 0 {
			p, params = params[:i], params[i+1:]
		} else {
			params = nil
		}
		if value, found := bytes.CutPrefix(bytes.TrimSpace(p), []byte("dur=")); found {
			return millisToMicros(value)
		}
	}
	return 0, false
}

// millisToMicros parses a non-negative decimal number of milliseconds,
// clamped to what an int32 of microseconds holds (about 35 minutes).
func millisToMicros(b []byte) (int32, bool) {
	const most = 1<<31 - 1
	var us int64
	digits, decimals, point := 0, 0, false
	for _, c := range b {
		switch {
		case c == '.' && !point:
			point = true
		case c >= '0' && c <= '9':
			digits++
			if point {
				if decimals == 3 {
					continue
				}
				decimals++
			}
			us = min(us*10+int64(c-'0'), most*1000)
		default:
			return 0, false
		}
	}
	if digits == 0 {
		return 0, false
	}
	for ; decimals < 3; decimals++ {
		us *= 10
	}
	return int32(min(us, most)), true
}

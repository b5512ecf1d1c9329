package runner

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
)

// Failure classes, the keys of report.Stats.Errors and report.Window.Errors.
const (
	ClassRefused = "refused" // the connection was refused
	ClassReset   = "reset"   // the connection was reset or closed during the exchange
	ClassTimeout = "timeout" // no complete response within the workload's timeout
	Class5xx     = "5xx"
	Class4xx     = "4xx"
	// ClassOther is anything else: DNS, protocol errors, a status outside
	// expect that is neither 4xx nor 5xx.
	ClassOther = "other"
	// ClassAborted is a request still in flight when an interrupted run gave
	// up waiting for it.
	ClassAborted = "aborted"
)

// outcome is what became of one arrival.
type outcome uint8

const (
	outSuccess outcome = iota
	outDropped
	outRefused
	outReset
	outTimeout
	out5xx
	out4xx
	outOther
	outAborted
	numOutcomes
)

// class is the failure class of a failed outcome ("" for success and dropped).
func (o outcome) class() string {
	switch o {
	case outRefused:
		return ClassRefused
	case outReset:
		return ClassReset
	case outTimeout:
		return ClassTimeout
	case out5xx:
		return Class5xx
	case out4xx:
		return Class4xx
	case outOther:
		return ClassOther
	case outAborted:
		return ClassAborted
	}
	return ""
}

func (o outcome) failed() bool { return o >= outRefused }

// classifyError names the failure of an exchange that ended with err.
// ctxErr is the request context's own error: it tells a timeout of ours
// apart from whatever the transport made of it.
func classifyError(ctxErr, err error) outcome {
	switch {
	case errors.Is(ctxErr, context.DeadlineExceeded):
		return outTimeout
	case errors.Is(ctxErr, context.Canceled):
		return outAborted
	case errors.Is(err, context.DeadlineExceeded):
		return outTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return outRefused
	case errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, io.EOF):
		return outReset
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return outTimeout
	}
	return outOther
}

// expectation says which status codes count as success.
type expectation struct {
	codes map[int]bool // nil: 200-399
}

func newExpectation(status []int) expectation {
	if len(status) == 0 {
		return expectation{}
	}
	e := expectation{codes: make(map[int]bool, len(status))}
	for _, c := range status {
		e.codes[c] = true
	}
	return e
}

// classifyStatus names the outcome of a response read completely.
func (e expectation) classifyStatus(code int) outcome {
	ok := code >= 200 && code < 400
	if e.codes != nil {
		ok = e.codes[code]
	}
	switch {
	case ok:
		return outSuccess
	case code >= 500 && code < 600:
		return out5xx
	case code >= 400 && code < 500:
		return out4xx
	}
	return outOther
}

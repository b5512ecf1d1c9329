package runner

import (
	"bytes"
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
	// ClassUnexpectedBody is a response with an expected status whose body
	// lacks the expected text (expect.body_contains).
	ClassUnexpectedBody = "unexpected_body"
	// ClassSessionLost is a response by a backend that did not know the
	// request's session (409 with X-Ilities-Session: lost): session_loss.
	ClassSessionLost = "session_lost"
	// ClassTruncated is a response whose head arrived but whose body ended
	// before its declared length, the connection closed.
	ClassTruncated = "truncated"
)

// errTruncated marks a body that ended, with its connection, before the
// length its head declared.
var errTruncated = errors.New("response body shorter than its Content-Length")

// outcome is what became of one arrival.
type outcome uint8

const (
	outSuccess outcome = iota
	outDropped
	// outCut is an arrival due before the end of the run (or its stop) and
	// still unsent when the end came: never offered to the target.
	outCut
	// outExhausted is an arrival not sent because a data source with
	// when_exhausted: stop had handed out every row: never offered either.
	outExhausted
	outRefused
	outReset
	outTimeout
	out5xx
	out4xx
	outOther
	outAborted
	outUnexpectedBody
	outSessionLost
	outTruncated
	numOutcomes
)

// class is the failure class of a failed outcome ("" for success, dropped, cut and exhausted).
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
	case outUnexpectedBody:
		return ClassUnexpectedBody
	case outSessionLost:
		return ClassSessionLost
	case outTruncated:
		return ClassTruncated
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
	case errors.Is(err, errTruncated):
		return outTruncated
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

// expectation says which responses count as success.
type expectation struct {
	codes map[int]bool // nil: 200-399
	// body, when non-nil, must occur in the response body.
	body []byte
}

func newExpectation(status []int, bodyContains string) expectation {
	e := expectation{}
	if bodyContains != "" {
		e.body = []byte(bodyContains)
	}
	if len(status) == 0 {
		return e
	}
	e.codes = make(map[int]bool, len(status))
	for _, c := range status {
		e.codes[c] = true
	}
	return e
}

// response is what classification needs of a response read completely.
type response struct {
	status int
	// body is the start of the body, kept only when the expectation checks it.
	body []byte
	// session is the value of headers.Session, "" when absent.
	session string
}

// classify names the outcome of a response read completely: its status
// against the expected ones, then its body against body_contains.
func (e expectation) classify(r response) outcome {
	o := e.classifyStatus(r.status)
	if o != outSuccess && r.session == "lost" {
		return outSessionLost
	}
	if o == outSuccess && e.body != nil && !bytes.Contains(r.body, e.body) {
		return outUnexpectedBody
	}
	return o
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

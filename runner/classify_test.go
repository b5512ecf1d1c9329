package runner

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
)

func TestClassifyError(t *testing.T) {
	opErr := func(op string, err error) error {
		return &url.Error{Op: "Get", URL: "http://127.0.0.1:1/", Err: &net.OpError{Op: op, Net: "tcp", Err: &os.SyscallError{Syscall: op, Err: err}}}
	}
	cases := []struct {
		name   string
		ctxErr error
		err    error
		want   outcome
	}{
		{"refused", nil, opErr("dial", syscall.ECONNREFUSED), outRefused},
		{"reset", nil, opErr("read", syscall.ECONNRESET), outReset},
		{"broken pipe", nil, opErr("write", syscall.EPIPE), outReset},
		{"closed before the response", nil, &url.Error{Op: "Get", URL: "u", Err: io.EOF}, outReset},
		{"truncated body", nil, io.ErrUnexpectedEOF, outReset},
		{"our deadline", context.DeadlineExceeded, &url.Error{Op: "Get", URL: "u", Err: errors.New("net/http: request canceled")}, outTimeout},
		{"deadline in the error", nil, fmt.Errorf("reading: %w", context.DeadlineExceeded), outTimeout},
		{"net timeout", nil, &net.OpError{Op: "read", Err: timeoutErr{}}, outTimeout},
		{"aborted run", context.Canceled, &url.Error{Op: "Get", URL: "u", Err: context.Canceled}, outAborted},
		{"dns", nil, &url.Error{Op: "Get", URL: "u", Err: &net.DNSError{Err: "no such host", Name: "nowhere.invalid", IsNotFound: true}}, outOther},
		{"tls", nil, &url.Error{Op: "Get", URL: "u", Err: x509.UnknownAuthorityError{}}, outOther},
		{"protocol", nil, errors.New(`net/http: HTTP/1.x transport connection broken: malformed HTTP response "garbage"`), outOther},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyError(tc.ctxErr, tc.err); got != tc.want {
				t.Fatalf("classifyError(%v, %v) = %q, want %q", tc.ctxErr, tc.err, got.class(), tc.want.class())
			}
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestClassifyStatus(t *testing.T) {
	cases := []struct {
		expect []int
		code   int
		want   outcome
	}{
		{nil, 200, outSuccess},
		{nil, 204, outSuccess},
		{nil, 302, outSuccess},
		{nil, 399, outSuccess},
		{nil, 404, out4xx},
		{nil, 429, out4xx},
		{nil, 500, out5xx},
		{nil, 503, out5xx},
		{nil, 101, outOther},
		{[]int{200}, 204, outOther},
		{[]int{200}, 302, outOther},
		{[]int{404}, 404, outSuccess},
		{[]int{200, 503}, 503, outSuccess},
		{[]int{200}, 500, out5xx},
	}
	for _, tc := range cases {
		if got := newExpectation(tc.expect, "").classifyStatus(tc.code); got != tc.want {
			t.Errorf("expect %v, status %d: %q, want %q", tc.expect, tc.code, got.class(), tc.want.class())
		}
	}
}

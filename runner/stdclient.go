package runner

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"time"

	"github.com/ilities/ilities/internal/headers"
	"github.com/ilities/ilities/scenario"
)

type ioReadCloser = io.ReadCloser

func newBodyReader(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }

func sortedKeys(h http.Header) []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// stdConns is a target reached through net/http: HTTPS, HTTP/2 (over TLS,
// or cleartext with prior knowledge), and URLs with credentials.
type stdConns struct {
	base      *url.URL
	transport *http.Transport
	// ctx is the parent of every request; cancel abandons them all.
	ctx    context.Context
	cancel context.CancelFunc
}

func newStdConns(base *url.URL, cfg clientConfig) *stdConns {
	protocols := new(http.Protocols)
	switch {
	case cfg.spec.HTTP != scenario.HTTP2:
		protocols.SetHTTP1(true)
	case base.Scheme == "https":
		protocols.SetHTTP2(true)
	default:
		protocols.SetUnencryptedHTTP2(true)
	}
	conns := max(cfg.connections, 1)
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		DisableKeepAlives:   !cfg.spec.KeepsAlive(),
		Protocols:           protocols,
		ForceAttemptHTTP2:   cfg.spec.HTTP == scenario.HTTP2,
	}
	if cfg.spec.Insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &stdConns{base: base, transport: tr, ctx: ctx, cancel: cancel}
}

func (s *stdConns) roundTrip(r *request, ti int, u *userState, deadline time.Time) (exchange, bool) {
	if r = r.rendered(ti, u, false, true); r == nil {
		return exchange{outcome: outOther}, false
	}
	ctx, cancel := context.WithDeadline(s.ctx, deadline)
	defer cancel()
	tmpl := r.std[ti]
	req := tmpl.WithContext(ctx)
	if len(r.body) > 0 {
		req.Body, _ = tmpl.GetBody()
	}
	if u.jar != nil {
		if cookies := u.jar.Cookies(tmpl.URL); len(cookies) > 0 {
			req.Header = tmpl.Header.Clone()
			for _, c := range cookies {
				req.AddCookie(c)
			}
		}
	}
	// The transport is used directly rather than through an http.Client: a
	// redirect is a response like any other, measured and not followed.
	resp, err := s.transport.RoundTrip(req)
	if err != nil {
		var op *net.OpError
		connectFailed := errors.As(err, &op) && op.Op == "dial"
		return failure(ctx.Err(), err), connectFailed
	}
	ex := exchange{responded: true, status: uint16(resp.StatusCode)}
	if v := resp.Header[headers.Node]; len(v) > 0 {
		ex.node = u.intern([]byte(v[0]))
	}
	if v := resp.Header[headers.ServerTiming]; len(v) > 0 {
		ex.station = parseStationTiming([]byte(v[0]))
	}
	if u.jar != nil {
		if cookies := resp.Cookies(); len(cookies) > 0 {
			u.jar.SetCookies(tmpl.URL, cookies)
		}
	}
	if r.readsBody() {
		u.body = u.body[:0]
		buf := bytes.NewBuffer(u.body)
		_, err = io.Copy(buf, io.LimitReader(resp.Body, bodyCheckLimit))
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
		}
		u.body = buf.Bytes()
	} else {
		// io.Discard reads through a pooled buffer: no allocation per request.
		_, err = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = errTruncated
	}
	if err != nil {
		ex.outcome, ex.err = classifyError(ctx.Err(), err), err
		return ex, false
	}
	ex.outcome = r.expect.classify(response{status: resp.StatusCode, body: u.body, session: resp.Header.Get(headers.Session)})
	if ex.outcome == outSuccess && r.checks != nil {
		header := func(name string) (string, bool) {
			v, ok := resp.Header[name]
			if !ok || len(v) == 0 {
				return "", false
			}
			return v[0], true
		}
		if !r.checks.pass(u.body, header, resp.Header["Set-Cookie"], u.data) {
			ex.outcome = outUnexpectedBody
		}
	}
	return ex, false
}

func (s *stdConns) abort() { s.cancel() }

func (s *stdConns) close() { s.transport.CloseIdleConnections() }

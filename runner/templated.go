package runner

import (
	"bytes"
	"fmt"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/ilities/ilities/scenario"
)

// templated is what a request with placeholders keeps per target: the
// parts of its head that do not change, between which each send renders
// the path and the templated header values (a request without
// placeholders keeps its whole head instead: request.wire).
type templated struct {
	spec *scenario.RequestTemplates
	// prefix[i] is "METHOD /base" for target i, suffix[i] " HTTP/1.1",
	// Host and the literal fields, each line ending in CRLF.
	prefix, suffix [][]byte
	// base[i] is target i's URL without its trailing slash (net/http path).
	base []string
	// names are the templated headers' names, canonical.
	names []string
}

// newTemplated takes the templated headers out of the request's literal ones.
func newTemplated(spec *scenario.RequestTemplates, header http.Header) *templated {
	t := &templated{spec: spec}
	for _, h := range spec.Headers {
		header.Del(h.Name)
		t.names = append(t.names, textproto.CanonicalMIMEHeaderKey(h.Name))
	}
	return t
}

// prepareTemplated builds what prepare builds, less what a send renders:
// std[i] carries the target's URL, host and literal headers.
func (r *request) prepareTemplated(targets []*target) error {
	t := r.tmpl
	t.prefix, t.suffix, t.base = nil, nil, nil
	r.wire = make([][]byte, len(targets))
	r.std = make([]*http.Request, len(targets))
	for i, tg := range targets {
		base := strings.TrimRight(tg.base.String(), "/")
		std, err := r.stdRequest(base+"/", nil)
		if err != nil {
			return err
		}
		r.std[i] = std
		t.base = append(t.base, base)
		t.prefix = append(t.prefix, []byte(r.method+" "+strings.TrimRight(std.URL.EscapedPath(), "/")))
		suffix := appendFields([]byte(" HTTP/1.1\r\n"), std)
		t.suffix = append(t.suffix, suffix)
	}
	return nil
}

// rendered is the request to send to target ti for user u: r itself when
// it has no placeholders, else r rendered into u's buffers. lean says which
// client sends it. nil when the rendered URL is not one.
func (r *request) rendered(ti int, u *userState, lean, keepAlive bool) *request {
	if r.tmpl == nil {
		return r
	}
	d, t := u.data, r.tmpl
	s := &d.scratch
	*s = *r
	if t.spec.Body != nil {
		d.body = d.appendTemplate(d.body[:0], t.spec.Body, escapeNone)
		s.body = d.body
	}
	if t.spec.Path != nil {
		d.path = d.appendTemplate(d.path[:0], t.spec.Path, escapePath)
	} else {
		d.path = append(d.path[:0], r.path...)
	}
	if len(d.wire) != len(r.wire) {
		d.wire = make([][]byte, len(r.wire))
		d.std = make([]*http.Request, len(r.std))
	}
	copy(d.std, r.std)
	s.wire, s.std = d.wire, d.std
	if lean {
		b := append(d.head[:0], t.prefix[ti]...)
		b = append(b, d.path...)
		b = append(b, t.suffix[ti]...)
		for i, h := range t.spec.Headers {
			b = append(b, t.names[i]...)
			b = append(b, ": "...)
			b = d.appendTemplate(b, h.Value, escapeHeader)
			b = append(b, "\r\n"...)
		}
		b = appendTrailer(b, r.method, len(s.body), keepAlive)
		d.head, d.wire[ti] = b, b
		if u.jar == nil {
			return s
		}
	}
	if !lean {
		// net/http may still be writing a body when the response has come:
		// its own copy, not the buffer the next send renders into.
		s.body = bytes.Clone(s.body)
	}
	std, err := s.stdRequest(t.base[ti]+string(d.path), s.body)
	if err != nil {
		return nil
	}
	std.Header = r.std[ti].Header.Clone()
	for i, h := range t.spec.Headers {
		std.Header[t.names[i]] = []string{string(d.appendTemplate(nil, h.Value, escapeHeader))}
	}
	d.std[ti] = std
	return s
}

// stdRequest is the net/http form of the request to the URL full.
func (r *request) stdRequest(full string, body []byte) (*http.Request, error) {
	std, err := http.NewRequest(r.method, full, nil)
	if err != nil {
		return nil, fmt.Errorf("request %s %s: %w", r.method, r.path, err)
	}
	std.Header = r.header.Clone()
	if r.host != "" {
		std.Host = r.host
	}
	if u := std.URL.User; u != nil {
		// What http.Client would do for user:password@ in the URL.
		password, _ := u.Password()
		std.SetBasicAuth(u.Username(), password)
		std.URL.User = nil
	}
	if len(body) > 0 {
		std.ContentLength = int64(len(body))
		std.GetBody = func() (ioReadCloser, error) { return newBodyReader(body), nil }
	}
	return std, nil
}

// appendFields writes the Host line and the headers of std, sorted.
func appendFields(b []byte, std *http.Request) []byte {
	host := std.Host
	if host == "" {
		host = std.URL.Host
	}
	b = append(append(append(b, "Host: "...), host...), "\r\n"...)
	for _, k := range sortedKeys(std.Header) {
		for _, v := range std.Header[k] {
			b = append(append(append(append(b, k...), ": "...), v...), "\r\n"...)
		}
	}
	return b
}

// appendTrailer writes the last fields of a head: Content-Length when a
// body is sent or the method expects one, Connection: close without
// keep-alive.
func appendTrailer(b []byte, method string, bodyLen int, keepAlive bool) []byte {
	if bodyLen > 0 || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(bodyLen), 10)
		b = append(b, "\r\n"...)
	}
	if !keepAlive {
		b = append(b, "Connection: close\r\n"...)
	}
	return b
}

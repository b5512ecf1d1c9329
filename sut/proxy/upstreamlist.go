package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// ParseUpstream reads one upstream as ilities proxy's --backend takes it
// and a backends file lists it: a URL, then optionally weight=N and
// name=NAME, separated by commas or spaces, e.g.
// "http://127.0.0.1:9001,weight=2,name=app-1". The name defaults to the
// URL's host:port. An error is an *UpstreamError, placed in text.
func ParseUpstream(text string) (UpstreamConfig, error) {
	fields := strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
	if len(fields) == 0 {
		return UpstreamConfig{}, &UpstreamError{1, "expected an upstream's URL, such as http://127.0.0.1:9001"}
	}
	at := func(f string) int { return 1 + strings.Index(text, f) }
	col := at(fields[0])
	u, err := url.Parse(fields[0])
	switch {
	case err != nil || u.Scheme == "" || u.Host == "":
		return UpstreamConfig{}, &UpstreamError{col, fmt.Sprintf("%q: expected an upstream's URL, such as http://127.0.0.1:9001", fields[0])}
	case u.Scheme != "http":
		return UpstreamConfig{}, &UpstreamError{col, fmt.Sprintf("%q: the proxy speaks plain HTTP/1.1 to its upstreams; expected an http:// URL", fields[0])}
	case u.Path != "" && u.Path != "/", u.RawQuery != "":
		return UpstreamConfig{}, &UpstreamError{col, fmt.Sprintf("%q: an upstream is a host and port; the request's own path is forwarded", fields[0])}
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	uc := UpstreamConfig{Name: host, URL: "http://" + host, Weight: 1}
	for _, f := range fields[1:] {
		key, value, ok := strings.Cut(f, "=")
		switch {
		case ok && key == "weight":
			w, err := strconv.Atoi(value)
			if err != nil || w < 1 || w > 1000 {
				return UpstreamConfig{}, &UpstreamError{at(f), fmt.Sprintf("%q: expected a weight from 1 to 1000", f)}
			}
			uc.Weight = w
		case ok && key == "name" && value != "":
			uc.Name = value
		default:
			return UpstreamConfig{}, &UpstreamError{at(f), fmt.Sprintf("%q: expected weight=N or name=NAME after the URL", f)}
		}
	}
	return uc, nil
}

// ReadUpstreams reads a backends file: one upstream per line as
// ParseUpstream reads it; blank lines and lines starting with # are
// skipped. An error names file:line:column. At most max upstreams.
func ReadUpstreams(file string, r io.Reader, max int) ([]UpstreamConfig, error) {
	var ups []UpstreamConfig
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		trimmed := strings.TrimLeft(text, " \t")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if len(ups) == max {
			return nil, fmt.Errorf("%s:%d:1: more than %d upstreams", file, line, max)
		}
		uc, err := ParseUpstream(trimmed)
		if err != nil {
			e := err.(*UpstreamError)
			return nil, fmt.Errorf("%s:%d:%d: %s", file, line, len(text)-len(trimmed)+e.Column, e.Msg)
		}
		ups = append(ups, uc)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return ups, nil
}

// UpstreamError is a problem with an upstream's text, at its 1-based
// column.
type UpstreamError struct {
	Column int
	Msg    string
}

func (e *UpstreamError) Error() string { return e.Msg }

// CheckUpstreams refuses an empty list and names used twice.
func CheckUpstreams(ups []UpstreamConfig) error {
	if len(ups) == 0 {
		return fmt.Errorf("no upstream: give at least one --backend URL or a --backends file")
	}
	seen := make(map[string]bool, len(ups))
	for _, u := range ups {
		if seen[u.Name] {
			return fmt.Errorf("upstream %q is named twice (name=NAME tells them apart)", u.Name)
		}
		seen[u.Name] = true
	}
	return nil
}

package http1

import "testing"

// hotPaths read what the proxy and the generator read per request: a
// request head from bytes an event loop holds, a response head with its
// body, whole or as the bytes arrive.
func hotPaths() map[string]func() error {
	request := []byte("GET /items?id=7 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: ilities\r\nAccept: */*\r\n\r\n")
	response := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Ilities-Backend: a\r\n\r\nok")
	chunked := []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
	var req Request
	var resp Response
	var src SliceReader
	var d BodyReader
	feed := func(in []byte) error {
		resp.Reset()
		for n := 0; ; {
			used, _, done, err := resp.Feed(in[n:], lenientRules)
			if err != nil {
				return err
			}
			n += used
			if done {
				d.Reset(resp.Body(false), resp.ContentLength, lenientRules)
				for !d.Done() && err == nil {
					used, _, err = d.Next(in[n:], true)
					n += used
				}
				return err
			}
		}
	}
	return map[string]func() error{
		"request head": func() error {
			src.Reset(request)
			return req.Read(&src, requestRules)
		},
		"response head": func() error {
			src.Reset(response)
			return resp.Read(&src, strictRules)
		},
		"response fed":         func() error { return feed(response) },
		"chunked response fed": func() error { return feed(chunked) },
	}
}

// Once a head's buffers have grown to its size, reading allocates nothing.
func TestReadersDoNotAllocate(t *testing.T) {
	for name, read := range hotPaths() {
		if err := read(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n := testing.AllocsPerRun(100, func() { _ = read() }); n != 0 {
			t.Errorf("%s: %.1f allocations per message, want none", name, n)
		}
	}
}

func BenchmarkRead(b *testing.B) {
	for name, read := range hotPaths() {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := read(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

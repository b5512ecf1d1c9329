package runner

import (
	"bufio"
	"bytes"
	"net"
	"testing"
	"time"
)

// rawServer answers every HTTP/1.1 request on a kept-alive connection with
// the same bytes, allocating nothing per request: what is measured against
// it is the client's own cost. Requests must have no body.
func rawServer(t testing.TB, response string) string {
	return splitServer(t, 0, response)
}

// splitServer is rawServer answering with parts, written one after the
// other with a pause between them, so that a response arrives in pieces
// (that may cut its lines).
func splitServer(t testing.TB, pause time.Duration, parts ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	resp := make([][]byte, len(parts))
	for i, p := range parts {
		resp[i] = []byte(p)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReaderSize(c, 16<<10)
				for {
					// The head ends with an empty line.
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(bytes.TrimRight(line, "\r\n")) == 0 {
							break
						}
					}
					for i, p := range resp {
						if i > 0 {
							time.Sleep(pause)
						}
						if _, err := c.Write(p); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

package proxy

import (
	"bufio"
	"net"
)

// ServeTiny answers every request head on c (bodies are not expected) with
// response, allocating nothing per request: the benchmark's backends and
// the allocation test's upstream.
func ServeTiny(c net.Conn, response []byte) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 8192)
	bw := bufio.NewWriterSize(c, 8192)
	for {
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) <= 2 {
				break
			}
		}
		bw.Write(response)
		if br.Buffered() == 0 {
			if bw.Flush() != nil {
				return
			}
		}
	}
}

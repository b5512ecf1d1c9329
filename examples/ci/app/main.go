// Command app serves the small service of the "Gate your own service in
// CI" example (internal/demoapp): a login that answers a token, and calls
// that need it.
//
//	go run ./examples/ci/app -listen 127.0.0.1:8099 -users examples/ci/users.csv
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/ilities/ilities/internal/demoapp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8099", "address to listen on")
	usersFile := flag.String("users", "examples/ci/users.csv", "CSV of the users (fields name and password)")
	flag.Parse()
	users, err := demoapp.ReadUsers(*usersFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "app:", err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "app:", err)
		os.Exit(2)
	}
	fmt.Printf("app: %d users, listening on http://%s (what it saw: GET /stats)\n", len(users), ln.Addr())
	log.Fatal(http.Serve(ln, demoapp.New(users)))
}

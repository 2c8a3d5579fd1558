// Command sink is the benchmark's destination: it answers every delivery
// with 204 and counts them, and GET /count answers the count, so
// scripts/bench.sh can check that every accepted lead was delivered; GET
// /last answers when the last delivery came (Unix seconds, with
// nanoseconds), so it can tell how long delivering them all took.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8091", "address")
	flag.Parse()
	var n, last atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strconv.FormatInt(n.Load(), 10))
	})
	mux.HandleFunc("GET /last", func(w http.ResponseWriter, r *http.Request) {
		ns := last.Load()
		io.WriteString(w, strconv.FormatInt(ns/1e9, 10)+"."+fmt.Sprintf("%09d", ns%1e9))
	})
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		n.Add(1)
		last.Store(time.Now().UnixNano())
		w.WriteHeader(http.StatusNoContent)
	})
	log.Fatal(http.ListenAndServe(*listen, mux))
}

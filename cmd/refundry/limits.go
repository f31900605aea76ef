package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// serverLimits are what serve's HTTP server allows a connection: how long
// each part of a request may take and how big its headers may be. Body
// sizes are each route's own (its edge reads the body with its limit).
type serverLimits struct {
	readHeader, read, write, idle time.Duration
	maxHeaderBytes                int
	tlsCert, tlsKey               string
}

func (l *serverLimits) flags(fs *flag.FlagSet) {
	fs.DurationVar(&l.readHeader, "read-header-timeout", 10*time.Second, "longest a client may take to send a request's headers; a slower one is answered 408 (slow-loris)")
	fs.DurationVar(&l.read, "read-timeout", 30*time.Second, "longest a client may take to send a whole request, body included; a slower body is answered 408")
	fs.DurationVar(&l.write, "write-timeout", 60*time.Second, "longest from the end of a request's headers to the end of its answer")
	fs.DurationVar(&l.idle, "idle-timeout", 2*time.Minute, "how long a keep-alive connection may wait for its next request")
	fs.IntVar(&l.maxHeaderBytes, "max-header-bytes", 64<<10, "largest request line and headers; larger ones are answered 431")
	fs.StringVar(&l.tlsCert, "tls-cert", "", "PEM certificate (chain) file; with --tls-key, serve HTTPS (TLS 1.2 and later) instead of HTTP")
	fs.StringVar(&l.tlsKey, "tls-key", "", "PEM private key file of --tls-cert")
}

// check refuses limits that would leave the server undefended or cannot
// work, and loads the TLS key pair so that a bad one stops serve before
// it listens rather than on the first handshake.
func (l *serverLimits) check() (*tls.Config, error) {
	for name, d := range map[string]time.Duration{"--read-header-timeout": l.readHeader, "--read-timeout": l.read, "--write-timeout": l.write, "--idle-timeout": l.idle} {
		if d <= 0 {
			return nil, usageError{fmt.Sprintf("%s must be more than 0, got %s", name, d)}
		}
	}
	if l.maxHeaderBytes < 4<<10 {
		return nil, usageError{fmt.Sprintf("--max-header-bytes must be at least 4096, got %d", l.maxHeaderBytes)}
	}
	if (l.tlsCert == "") != (l.tlsKey == "") {
		return nil, usageError{"--tls-cert and --tls-key go together: give both or neither"}
	}
	if l.tlsCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(l.tlsCert, l.tlsKey)
	if err != nil {
		return nil, usageError{"--tls-cert/--tls-key: " + err.Error()}
	}
	// Go's defaults choose the cipher suites (only AEAD ones with forward
	// secrecy for TLS 1.2, all of 1.3's) and curves; what is left to say
	// is no TLS 1.0 or 1.1, which every client of a payments API has
	// long moved past.
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
}

// server returns the HTTP server with these limits. Over plain HTTP the
// listener it is to serve on is wrapped so that a client too slow with its
// headers hears 408 before the connection closes.
func (l *serverLimits) server(h http.Handler, tlsConfig *tls.Config, logger *slog.Logger) *http.Server {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.readHeader,
		ReadTimeout:       l.read,
		WriteTimeout:      l.write,
		IdleTimeout:       l.idle,
		MaxHeaderBytes:    l.maxHeaderBytes,
		TLSConfig:         tlsConfig,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if tlsConfig == nil {
		srv.ConnState = trackHeaderPhase
	}
	return srv
}

// serve runs srv on ln until it is shut down.
func serveOn(srv *http.Server, ln net.Listener) error {
	if srv.TLSConfig != nil {
		return srv.ServeTLS(ln, "", "")
	}
	return srv.Serve(headerTimeoutListener{ln})
}

// headerTimeoutListener hands out connections that answer 408 to a request
// whose headers did not arrive within the read-header timeout. net/http
// closes such a connection without a word, since it cannot tell a slow
// client from a gone one; a slow one (or a proxy in front) deserves to
// know why. Plain HTTP only: under TLS the answer would have to go
// through the TLS layer that sits above this one.
type headerTimeoutListener struct{ net.Listener }

func (l headerTimeoutListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &headerConn{Conn: c}, nil
}

// headerConn knows, from the server's ConnState hook, whether a handler is
// running on it. Between requests net/http reads headers itself; a read
// that times out there after some bytes of a request arrived is a request
// too slow, and gets the 408. One that times out with nothing read is an
// idle keep-alive connection ending, which must stay silent (a client
// would take an answer to no request for a protocol error).
type headerConn struct {
	net.Conn
	inHandler atomic.Bool
	begun     atomic.Bool // bytes of a request not yet handled have arrived
	answered  atomic.Bool
}

const timeoutAnswer = "request headers were sent too slowly\n"

// rstAvoidanceDelay is net/http's own wait for the same purpose.
const rstAvoidanceDelay = 500 * time.Millisecond

func (c *headerConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.inHandler.Load() {
		c.begun.Store(true)
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && c.begun.Load() && !c.inHandler.Load() && c.answered.CompareAndSwap(false, true) {
		// The write deadline may be left over from the last request.
		_ = c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = io.WriteString(c.Conn, fmt.Sprintf("HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(timeoutAnswer), timeoutAnswer))
		// As net/http does for its own last words (431): close our side
		// and give the answer a moment to arrive before the close, which
		// resets a connection the client is still writing to and can
		// destroy the answer in its receive buffer.
		if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
			time.Sleep(rstAvoidanceDelay)
		}
	}
	return n, err
}

func trackHeaderPhase(c net.Conn, state http.ConnState) {
	hc, ok := c.(*headerConn)
	if !ok {
		return
	}
	switch state {
	case http.StateActive:
		hc.inHandler.Store(true)
	case http.StateIdle:
		hc.inHandler.Store(false)
		hc.begun.Store(false)
	}
}

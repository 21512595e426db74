package upstream

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// benchBody is a typical answer: about 2.8 KB of nested JSON with escapes,
// the same shape BenchmarkValidateBody measures.
func benchBody() []byte {
	var sb strings.Builder
	sb.WriteString(`{"query":"johndoe","type":"username","results":[`)
	for i := range 24 {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString(`{"platform":"site` + strings.Repeat("x", i%5) + `","url":"https:\/\/example.com\/u\/johndoe","score":0.87,"seen":[2024,2025],"bio":"caf\u00e9"}`)
	}
	sb.WriteString(`],"count":24}`)
	return []byte(sb.String())
}

// cannedResponse is a complete HTTP/1.1 response carrying body, framed
// with a Content-Length or, when chunked, as two chunks.
func cannedResponse(body []byte, chunked bool) []byte {
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" +
		"X-RateLimit-Limit: 100\r\nX-RateLimit-Remaining: 99\r\nX-RateLimit-Reset: 1\r\n")
	if !chunked {
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body))
		b.Write(body)
		return b.Bytes()
	}
	b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	half := len(body) / 2
	for _, part := range [][]byte{body[:half], body[half:]} {
		fmt.Fprintf(&b, "%x\r\n", len(part))
		b.Write(part)
		b.WriteString("\r\n")
	}
	b.WriteString("0\r\n\r\n")
	return b.Bytes()
}

// startCanned serves resp to every request on loopback TLS. It allocates
// nothing per request once a connection is up, so a benchmark's allocs/op
// are the client's own: the transport, our checks, our copies.
func startCanned(tb testing.TB, cert tls.Certificate, resp []byte) string {
	tb.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	tb.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { serveCanned(conn, resp) })
		}
	})
	return "https://" + ln.Addr().String()
}

func serveCanned(conn net.Conn, resp []byte) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	for {
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) <= 2 { // the blank line ending a GET's headers
				break
			}
		}
		if _, err := conn.Write(resp); err != nil {
			return
		}
	}
}

// BenchmarkDo is one upstream call on a kept-alive, pinned TLS 1.3
// connection: request, transport, size cap, content type, JSON, I-JSON.
func BenchmarkDo(b *testing.B) {
	for _, chunked := range []bool{false, true} {
		name := "content-length"
		if chunked {
			name = "chunked"
		}
		b.Run(name, func(b *testing.B) {
			p := newPKI(b)
			body := benchBody()
			url := startCanned(b, p.leaf, cannedResponse(body, chunked))
			c, err := New(Options{CAFile: p.caFile, Pins: []string{Pin(p.leaf.Leaf)}})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(c.CloseIdleConnections)
			ctx := context.Background()
			call := func() {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/resolve?query=johndoe&type=auto", nil)
				if err != nil {
					b.Fatal(err)
				}
				req.Header.Set("Accept", "application/json")
				req.Header.Set("Authorization", "Bearer se-bench-key")
				resp, err := c.Do(ctx, req, Validation{Secret: "se-bench-key"})
				if err != nil {
					b.Fatal(err)
				}
				if !bytes.Equal(resp.Body, body) {
					b.Fatal("body changed in transit")
				}
			}
			call() // connect and handshake outside the measurement
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				call()
			}
		})
	}
}

// rewindBody is a response body that can be read again, so BenchmarkJudge
// measures the checks and not the making of readers.
type rewindBody struct{ bytes.Reader }

func (*rewindBody) Close() error { return nil }

// BenchmarkJudge is what Do adds once the response headers are in: the
// status, content type and size checks, reading the body, JSON and I-JSON.
func BenchmarkJudge(b *testing.B) {
	body := benchBody()
	for _, cl := range []int64{int64(len(body)), -1} {
		name := "content-length"
		if cl < 0 {
			name = "unknown-length"
		}
		b.Run(name, func(b *testing.B) {
			c, err := New(Options{})
			if err != nil {
				b.Fatal(err)
			}
			rb := &rewindBody{}
			resp := &http.Response{
				StatusCode:    http.StatusOK,
				Header:        http.Header{"Content-Type": {"application/json; charset=utf-8"}},
				ContentLength: cl,
				Body:          rb,
			}
			ctx := context.Background()
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				rb.Reset(body)
				got, e := c.judge(ctx, resp, Validation{})
				if e != nil {
					b.Fatal(e)
				}
				if len(got) != len(body) {
					b.Fatal(errors.New("short body"))
				}
			}
		})
	}
}

var _ io.ReadCloser = (*rewindBody)(nil)

package notify_test

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/testenv"
	"github.com/refundry/refundry/notify"
)

// mailbox is a real SMTP server, in the test process, keeping what it gets.
type mailbox struct {
	mu   sync.Mutex
	msgs []received
}

type received struct {
	from string
	to   []string
	data []byte
}

type session struct {
	box *mailbox
	cur received
}

func (b *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{box: b}, nil }

func (s *session) Reset()        { s.cur = received{} }
func (s *session) Logout() error { return nil }
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.cur.from = from
	return nil
}
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.to = append(s.cur.to, to)
	return nil
}
func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = b
	s.box.mu.Lock()
	s.box.msgs = append(s.box.msgs, s.cur)
	s.box.mu.Unlock()
	return nil
}

func (b *mailbox) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.msgs)
}

func startSMTP(t *testing.T) (*mailbox, string) {
	box := &mailbox{}
	srv := smtp.NewServer(box)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return box, ln.Addr().String()
}

func TestEmailOncePerRefund(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	outbox := env.Engine.Stores.Outbox
	sale := env.Sale(testenv.SaleSpec{Reference: "B-1001", Email: "ada@example.com", Units: []int64{1250, 500}})
	req := refundry.RefundRequest{MerchantID: env.A.ID, Target: refundry.RefundTarget{SaleID: sale.ID}, Amount: ptr(int64(1250)),
		NotifyCustomer: true, Source: refundry.SourceKeepUp, Idempotency: &refundry.Idempotency{Key: "k-1", Hash: "h"}}
	first, err := env.Engine.Refund(ctx, req)
	if err != nil || first.Refunds[0].Status != refundry.RefundSucceeded {
		t.Fatalf("refund: %+v %v", first, err)
	}

	// No mail server yet: the notice waits, unsent, in the outbox.
	ns, _, err := outbox.ListNotifications(ctx, env.A.ID, refundry.NotificationFilter{})
	if err != nil || len(ns) != 1 || ns[0].Status != refundry.NotificationUnsent {
		t.Fatalf("notifications before SMTP: %+v %v", ns, err)
	}

	box, addr := startSMTP(t)
	sender, err := notify.NewSMTP("smtp://"+addr, "refunds@store-a.example")
	if err != nil {
		t.Fatal(err)
	}
	var passes atomic.Int64
	e := &notify.Email{Outbox: outbox, Sender: sender, Logger: env.Logger, Interval: 20 * time.Millisecond,
		OnPass: func() { passes.Add(1) }}
	start := time.Now()
	e.Open()
	defer e.Close()
	for box.count() == 0 {
		if time.Since(start) > 20*time.Second {
			t.Fatal("no email arrived")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("the unsent notice was sent %v after the worker started", time.Since(start))

	// The client retries with the same Idempotency-Key: a replay, no email.
	again, err := env.Engine.Refund(ctx, req)
	if err != nil || !again.Replayed {
		t.Fatalf("retry: %+v %v", again, err)
	}
	// Fifteen more passes of the worker, counted rather than slept, so
	// that "no second email" means the worker looked again and again.
	for want := passes.Load() + 15; passes.Load() < want; time.Sleep(time.Millisecond) {
		if time.Since(start) > 40*time.Second {
			t.Fatalf("the worker made only %d passes", passes.Load())
		}
	}
	if n := box.count(); n != 1 {
		t.Fatalf("%d emails for one refund", n)
	}
	ns, _, _ = outbox.ListNotifications(ctx, env.A.ID, refundry.NotificationFilter{})
	if len(ns) != 1 || ns[0].Status != refundry.NotificationSent || ns[0].Attempts != 1 {
		t.Fatalf("notifications after sending: %+v", ns[0])
	}

	got := box.msgs[0]
	if got.from != "refunds@store-a.example" || len(got.to) != 1 || got.to[0] != "ada@example.com" {
		t.Fatalf("envelope from %q to %v", got.from, got.to)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(got.data))
	if err != nil {
		t.Fatal(err)
	}
	if s := msg.Header.Get("Subject"); s != "Your refund of 12.50 USD from Store A" {
		t.Fatalf("subject %q", s)
	}
	if id := msg.Header.Get("Message-Id"); !strings.Contains(id, ns[0].ID) {
		t.Fatalf("Message-Id %q does not name the notification %s", id, ns[0].ID)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		b, _ := io.ReadAll(p)
		parts[ct] = string(b)
	}
	for ct, body := range parts {
		for _, want := range []string{"12.50 USD", "B-1001", "Store A"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s part lacks %q:\n%s", ct, want, body)
			}
		}
	}
	if !strings.Contains(parts["text/html"], "<strong>12.50 USD</strong>") || strings.Contains(parts["text/plain"], "<") {
		t.Fatalf("parts:\ntext: %s\nhtml: %s", parts["text/plain"], parts["text/html"])
	}
	if len(parts) != 2 {
		t.Fatalf("parts %v, want text/plain and text/html", len(parts))
	}
}

// The HTML template escapes what merchants and customers typed.
func TestComposeEscapesHTML(t *testing.T) {
	m, err := notify.Compose(&refundry.Notification{ID: refundry.NewID(), To: "a@example.com", MerchantName: "<b>Evil</b> & Co",
		SaleReference: "R-1", Amount: 1500, Currency: "JPY"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, "<b>Evil") || !strings.Contains(m.HTML, "&lt;b&gt;Evil") || !strings.Contains(m.Text, "1500 JPY") {
		t.Fatalf("html %s\ntext %s", m.HTML, m.Text)
	}
}

func ptr[T any](v T) *T { return &v }

package notify

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	texttemplate "text/template"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/refundry/refundry"
)

//go:embed templates
var templateFS embed.FS

// Both templates are parsed at start-up, so a broken one stops the build's
// tests and the server's start, never a send.
var (
	textTemplate = texttemplate.Must(texttemplate.ParseFS(templateFS, "templates/refund_succeeded.txt"))
	htmlTemplate = htmltemplate.Must(htmltemplate.ParseFS(templateFS, "templates/refund_succeeded.html"))
)

// Message is one email, in both forms.
type Message struct {
	To        string
	Subject   string
	Text      string
	HTML      string
	MessageID string // stable per notification, so a duplicate can be told
}

// Sender hands a message to a mail server.
type Sender interface {
	Send(ctx context.Context, m *Message) error
}

// PermanentError is a send the mail server refused for good (a 5xx reply,
// such as an unknown recipient): retrying cannot help.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Compose renders the notice of a succeeded refund.
func Compose(n *refundry.Notification) (*Message, error) {
	cur, err := refundry.LookupCurrency(n.Currency)
	if err != nil {
		return nil, err
	}
	data := struct {
		CustomerName, MerchantName, SaleReference, Amount, Currency string
	}{n.CustomerName, n.MerchantName, n.SaleReference, refundry.FormatMajor(n.Amount, cur), cur.Code}
	if data.SaleReference == "" {
		data.SaleReference = n.SaleID
	}
	var text, html bytes.Buffer
	if err := textTemplate.Execute(&text, data); err != nil {
		return nil, err
	}
	if err := htmlTemplate.Execute(&html, data); err != nil {
		return nil, err
	}
	return &Message{
		To:        n.To,
		Subject:   fmt.Sprintf("Your refund of %s %s from %s", data.Amount, data.Currency, data.MerchantName),
		Text:      text.String(),
		HTML:      html.String(),
		MessageID: n.ID + "@refundry",
	}, nil
}

// SMTP sends through a mail server named by a URL,
// smtp://user:pass@host:port (port 587 by default). STARTTLS is used when
// the server offers it; credentials are then sent only under TLS, or to a
// server on a loopback address.
type SMTP struct {
	From   string
	client *mail.Client
}

// NewSMTP returns a sender for the server rawURL names, sending from from.
func NewSMTP(rawURL, from string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "smtp" || u.Hostname() == "" {
		return nil, refundry.Errorf(refundry.EINVALID, "The SMTP URL must look like smtp://user:pass@host:port.")
	}
	if from == "" {
		return nil, refundry.Errorf(refundry.EINVALID, "A sender address (--smtp-from) is required to send email.")
	}
	port := 587
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return nil, refundry.Errorf(refundry.EINVALID, "The SMTP port must be a number.")
		}
	}
	opts := []mail.Option{mail.WithPort(port), mail.WithTLSPolicy(mail.TLSOpportunistic), mail.WithTimeout(30 * time.Second)}
	if u.User != nil {
		pass, _ := u.User.Password()
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(u.User.Username()), mail.WithPassword(pass))
	}
	c, err := mail.NewClient(u.Hostname(), opts...)
	if err != nil {
		return nil, refundry.Errorf(refundry.EINVALID, "SMTP: %v", err)
	}
	return &SMTP{From: from, client: c}, nil
}

// Send sends m in one SMTP session, as multipart/alternative (text, then
// HTML, the preferred form last).
func (s *SMTP) Send(ctx context.Context, m *Message) error {
	msg := mail.NewMsg()
	if err := msg.From(s.From); err != nil {
		return &PermanentError{err}
	}
	if err := msg.To(m.To); err != nil {
		return &PermanentError{err}
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(m.MessageID)
	msg.SetDate()
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	err := s.client.DialAndSendWithContext(ctx, msg)
	var se *mail.SendError
	if errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500 {
		return &PermanentError{err}
	}
	return err
}

// EmailSchedule is how long an unsent notice waits before each retry
// while the mail server fails for a moment: 8 attempts over about 45
// hours, then it is failed.
var EmailSchedule = []time.Duration{
	time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// Email sends customer notices. Set the fields, then Open; Close stops
// it. At start it sends every notice left unsent, those made while no
// mail server was configured included.
type Email struct {
	Outbox   refundry.Outbox
	Sender   Sender
	Logger   *slog.Logger
	Interval time.Duration   // how often the outbox is polled; default 1s
	Schedule []time.Duration // default EmailSchedule
	Timeout  time.Duration   // per send; default 60s

	// OnPass, if set, is called after every pass of the loop, so that a
	// readiness check can tell the loop is alive.
	OnPass func()

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	warn   throttle
}

// Open applies the defaults and starts the loop.
func (e *Email) Open() {
	if e.Interval == 0 {
		e.Interval = time.Second
	}
	if e.Schedule == nil {
		e.Schedule = EmailSchedule
	}
	if e.Timeout == 0 {
		e.Timeout = time.Minute
	}
	e.warn.every = time.Minute
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.wg.Go(e.loop)
}

// Close stops the loop and waits for a send under way.
func (e *Email) Close() {
	e.cancel()
	e.wg.Wait()
}

func (e *Email) loop() {
	backoff := time.Duration(0)
	for {
		if err := e.pass(); err != nil && e.ctx.Err() == nil {
			backoff = min(max(2*backoff, e.Interval), time.Minute)
			e.warn.log(e.Logger, "pass", "email pass failed", "err", err, "retry_in", backoff)
		} else {
			backoff = 0
		}
		if e.OnPass != nil {
			e.OnPass()
		}
		wait := e.Interval
		if backoff > 0 {
			wait = backoff
		}
		select {
		case <-e.ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// pass sends the notices that are due, one at a time: a mail server takes
// a session per message, and customer notices are not a hot path.
func (e *Email) pass() error {
	ns, err := e.Outbox.ClaimNotifications(e.ctx, 20, e.Timeout+30*time.Second)
	if err != nil {
		return err
	}
	for _, n := range ns {
		if e.ctx.Err() != nil {
			return nil // the leases end and the notices are sent later
		}
		r := e.send(n)
		if err := e.Outbox.RecordNotification(e.ctx, n.ID, r); err != nil {
			// Sent but not recorded: the lease ends and it is sent again.
			// The stable Message-ID lets the recipient's mail system see
			// the duplicate; this window is the one way a notice repeats.
			e.warn.log(e.Logger, "record", "recording an email failed", "notification", n.ID, "err", err)
		}
	}
	return nil
}

func (e *Email) send(n *refundry.Notification) refundry.NotificationResult {
	m, err := Compose(n)
	if err != nil {
		return refundry.NotificationResult{Error: "composing: " + err.Error()}
	}
	ctx, cancel := context.WithTimeout(e.ctx, e.Timeout)
	defer cancel()
	err = e.Sender.Send(ctx, m)
	if err == nil {
		e.Logger.Info("customer notice sent", "notification", n.ID, "refund", n.RefundID)
		return refundry.NotificationResult{Sent: true}
	}
	r := refundry.NotificationResult{Error: err.Error()}
	var perm *PermanentError
	if !errors.As(err, &perm) && n.Attempts < len(e.Schedule) {
		r.Retry = time.Now().Add(jittered(e.Schedule[n.Attempts], 0.2))
	}
	e.warn.log(e.Logger, "send", "sending a customer notice failed", "notification", n.ID, "err", err, "retry", !r.Retry.IsZero())
	return r
}

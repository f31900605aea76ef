package main

import (
	"log/slog"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/api"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/notify"
)

// newSender returns the mail sender --smtp names, or nil without one.
func newSender(smtpURL, from string) (notify.Sender, error) {
	if smtpURL == "" {
		if from != "" {
			return nil, usageError{"--smtp-from needs --smtp"}
		}
		return nil, nil
	}
	s, err := notify.NewSMTP(smtpURL, from)
	if err != nil {
		return nil, usageError{"--smtp/--smtp-from: " + refundry.ErrorMessage(err)}
	}
	return s, nil
}

// startNotify starts the webhook worker and, with a sender, the email
// worker, and returns what stops them. Without a sender, customer notices
// stay unsent in the outbox (listed at GET /v1/notifications); the email
// worker sends them at its first pass once a server is configured.
func startNotify(eng *engine.Engine, logger *slog.Logger, sender notify.Sender, op *ops) (stop func(), err error) {
	outbox := eng.Stores.Outbox
	hooks := &notify.Webhooks{Outbox: outbox, Render: api.EventJSON, Logger: logger.With("worker", "webhooks"), OnPass: op.webhooks.Beat,
		Accounts: eng.OpenGatewayAccount}
	op.webhooks.Start()
	hooks.Open()
	var mail *notify.Email
	if sender != nil {
		mail = &notify.Email{Outbox: outbox, Sender: sender, Logger: logger.With("worker", "email"), OnPass: op.email.Beat}
		op.email.Start()
		op.checks = append(op.checks, op.email.Check())
		mail.Open()
	} else {
		logger.Info("no --smtp: customer notices are kept unsent until a mail server is configured")
	}
	return func() {
		hooks.Close()
		if mail != nil {
			mail.Close()
		}
	}, nil
}

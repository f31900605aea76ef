package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/api"
	"github.com/refundry/refundry/dialect/jetti"
	"github.com/refundry/refundry/dialect/keepup"
	"github.com/refundry/refundry/dialect/payop"
	"github.com/refundry/refundry/dialect/revcent"
	"github.com/refundry/refundry/dialect/talkable"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/gateway/connect"
	"github.com/refundry/refundry/gateway/simulator"
	"github.com/refundry/refundry/gateway/stripe"
	"github.com/refundry/refundry/health"
	"github.com/refundry/refundry/metrics"
	"github.com/refundry/refundry/secrets"
	"github.com/refundry/refundry/web"
)

// recoveryMinAge is how old a pending refund must be before serve's
// recovery asks about it: a younger one is left to its request's own
// gateway call.
const recoveryMinAge = 2 * time.Second

type serveCommand struct{}

func (c *serveCommand) Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("refundry serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "", "address to listen on (env REFUNDRY_ADDR; default :8080)")
	db := fs.String("db", "", "database: sqlite:PATH or postgres://... (env REFUNDRY_DB; default "+defaultDB+")")
	demo := fs.Bool("demo", false, "create (once) the demo merchant demo-store with sample data; at each start print a new key named demo (revoking the previous ones) and requests that work")
	stripeKey := fs.String("stripe-key", "", "Stripe secret key; enables the stripe gateway (env REFUNDRY_STRIPE_KEY)")
	stripeBase := fs.String("stripe-api-base", "", "Stripe API base URL, e.g. a stripe-mock's (env REFUNDRY_STRIPE_API_BASE; default Stripe itself)")
	smtpURL := fs.String("smtp", "", "mail server for customer notices, smtp://user:pass@host:port (env REFUNDRY_SMTP; unset: notices wait unsent)")
	smtpFrom := fs.String("smtp-from", "", "sender address of customer notices (env REFUNDRY_SMTP_FROM)")
	batchLease := fs.Duration("batch-lease", 30*time.Second, "how long a refund batch worker holds the rows it claimed; a crashed server's rows are taken again after it")
	groupCommit := fs.Bool("group-commit", true, "gather concurrent refunds into shared durable transactions (env REFUNDRY_GROUP_COMMIT)")
	allowAsyncCommit := fs.Bool("allow-async-commit", false, "serve from a PostgreSQL database whose commits are not durable when they return (synchronous_commit off, or local with a synchronous standby), accepting that a refund answered 2xx can be lost in a crash or failover")
	simCallLog := fs.String("sim-call-log", "", "append every simulator gateway call and answer to this file, one JSON line each, synced before the call goes on (for crash tests; default: off)")
	debugAddr := fs.String("debug-addr", "", "serve net/http/pprof on this address, e.g. 127.0.0.1:6060 (default: off)")
	rateLimit := fs.Float64("rate-limit", 100, "requests a second each API key may make on average, on every edge; more are answered 429 with Retry-After; 0 turns limiting off")
	rateBurst := fs.Int("rate-burst", 200, "requests each API key may make at once above --rate-limit")
	reconcileInterval := fs.Duration("reconcile-interval", 15*time.Minute, "compare the ledger with the gateways this often, for the payments with activity in the last 72h; 0 turns the sweep off")
	stripeWebhookSecret := fs.String("stripe-webhook-secret", "", "signing secret (whsec_...) of the Stripe webhook endpoint that sends events to POST /v1/gateway_events/stripe; unset, that route answers 404")
	inboxDelay := fs.Duration("inbox-delay", 0, "how long the inbox worker waits after a gateway event arrives before it applies the stored events (0: at once); events stay stored meanwhile, across restarts")
	reviewAttempts := fs.Int("review-after-attempts", refundry.DefaultReviewAttempts, "send a pending refund to manual review (requires_action) once recovery has asked its gateway this many times without a final answer; 0: no limit by attempts")
	reviewAge := fs.Duration("review-after", refundry.DefaultReviewAge, "send a pending refund to manual review once it is this old without a final answer from its gateway; 0: no limit by age")
	secretsKeyFile := fs.String("secrets-key-file", "", "file of the keys gateway accounts' credentials are sealed with: one key a line, 64 hexadecimal characters, the first sealing, the others opening what they sealed (unset: no account can be added; with --demo, a key is made that lives only until serve stops)")
	approvalSweep := fs.Duration("approval-sweep-interval", 30*time.Second, "how often refunds awaiting approval past their deadline are released (refund.expired)")
	var limits serverLimits
	limits.flags(fs)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: refundry serve [--addr :8080] [--db URL] [--demo]")
		fs.PrintDefaults()
	}
	if err := parseFlagsEnv(fs, args, getenv, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return usageError{fmt.Sprintf("serve takes no arguments, got %q", fs.Arg(0))}
	}
	fromEnv(addr, getenv, "REFUNDRY_ADDR")
	if *addr == "" {
		*addr = ":8080"
	}
	if err := boolFromEnv(fs, "group-commit", groupCommit, getenv, "REFUNDRY_GROUP_COMMIT"); err != nil {
		return err
	}
	fromEnv(stripeKey, getenv, "REFUNDRY_STRIPE_KEY")
	fromEnv(stripeBase, getenv, "REFUNDRY_STRIPE_API_BASE")
	fromEnv(smtpURL, getenv, "REFUNDRY_SMTP")
	fromEnv(smtpFrom, getenv, "REFUNDRY_SMTP_FROM")
	sender, err := newSender(*smtpURL, *smtpFrom)
	if err != nil {
		return err
	}
	if err := checkServeConfig(*addr, *stripeKey, *stripeBase); err != nil {
		return err
	}
	if *reconcileInterval < 0 {
		return usageError{fmt.Sprintf("--reconcile-interval must be 0 (off) or more, got %v", *reconcileInterval)}
	}
	if *stripeWebhookSecret != "" && !strings.HasPrefix(*stripeWebhookSecret, "whsec_") {
		return usageError{"--stripe-webhook-secret must be a Stripe webhook signing secret (whsec_...), as the endpoint's page in the Stripe dashboard shows it"}
	}
	if *inboxDelay < 0 {
		return usageError{fmt.Sprintf("--inbox-delay must be 0 or more, got %v", *inboxDelay)}
	}
	if *reviewAttempts < 0 || *reviewAge < 0 {
		return usageError{fmt.Sprintf("--review-after-attempts and --review-after must be 0 (no limit) or more, got %d and %v", *reviewAttempts, *reviewAge)}
	}
	if *approvalSweep <= 0 {
		return usageError{fmt.Sprintf("--approval-sweep-interval must be more than 0, got %v", *approvalSweep)}
	}
	if *rateLimit < 0 || *rateBurst < 1 {
		return usageError{fmt.Sprintf("--rate-limit must be 0 (off) or more and --rate-burst at least 1, got %v and %d", *rateLimit, *rateBurst)}
	}
	tlsConfig, err := limits.check()
	if err != nil {
		return err
	}
	keyring, err := serveKeyring(*secretsKeyFile, *demo)
	if err != nil {
		return err
	}
	if getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
	sim := simulator.New()
	if *simCallLog != "" {
		if err := sim.LogCalls(*simCallLog); err != nil {
			return err
		}
		// Deferred before the store opens, so run after everything that
		// calls the simulator has stopped.
		defer sim.Close()
	}
	gateways := []refundry.Gateway{sim}
	if *stripeKey != "" {
		g, err := stripe.New(stripe.Config{SecretKey: *stripeKey, APIBase: *stripeBase})
		if err != nil {
			return usageError{"--stripe-key/--stripe-api-base: " + refundry.ErrorMessage(err)}
		}
		gateways = append(gateways, g)
	}
	logger := slog.New(edge.LogHandler{Handler: slog.NewTextHandler(stderr, nil)})

	op, err := newOps()
	if err != nil {
		return err
	}
	store, err := openStoreWith(ctx, dbFlag(*db, getenv), storeOptions{
		groupCommit: *groupCommit, onBatch: op.metrics.GroupCommitBatch,
		allowAsyncCommit: *allowAsyncCommit,
		onAsyncCommit: func(risk error) {
			logger.Warn("commits are not durable; serving anyway, as --allow-async-commit asks", "risk", risk.Error())
		},
	})
	if err != nil {
		return err
	}
	defer store.Close()
	eng := engine.New(store, logger, gateways...)
	// The simulator's events enter through the inbox, as Stripe's do.
	sim.Events = eng.ReceiveGatewayEvent
	defer sim.Close() // its timers stop before the store closes
	eng.EventParsers[refundry.GatewayStripe] = stripe.ParseEvent
	eng.EventParsers[refundry.GatewaySimulator] = simulator.ParseEvent
	eng.InboxDelay = *inboxDelay
	eng.Review = refundry.ReviewRule{Attempts: *reviewAttempts, Age: *reviewAge}
	if keyring != nil {
		// Without a key no account opens, so only a server with one
		// connects to accounts' providers; without, the engine answers
		// that it cannot call them.
		eng.Secrets = keyring
		eng.Connect = func(a *refundry.GatewayAccount) (refundry.Gateway, error) {
			// nil: each connector's own client, with its own timeout.
			return connect.New(a, nil)
		}
		if warning := keyFileExposed(*secretsKeyFile); warning != "" {
			logger.Warn(warning)
		}
		if *secretsKeyFile == "" {
			logger.Warn("no --secrets-key-file: gateway accounts added to this demo are sealed with a key that lives only until serve stops, and cannot be used after a restart")
		}
	}
	op.expiry = health.NewHeartbeat("expiry", expiryGap(*approvalSweep))
	if err := op.attach(store, eng); err != nil {
		return err
	}
	stopNotify, err := startNotify(eng, logger, sender, op)
	if err != nil {
		return err
	}
	defer stopNotify()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	base := "http://" + displayAddr(ln.Addr())
	if tlsConfig != nil {
		base = "https://" + displayAddr(ln.Addr())
	}
	if *debugAddr != "" {
		at, stopDebug, err := startDebug(*debugAddr, logger)
		if err != nil {
			ln.Close()
			return fmt.Errorf("--debug-addr: %w", err)
		}
		defer stopDebug()
		logger.Info("debug listener", "addr", at)
	}
	if *demo {
		if err := seedDemo(ctx, eng, base, stdout); err != nil {
			ln.Close()
			return fmt.Errorf("demo data: %w", err)
		}
	}

	// The limiter rides in each request's context down to the edges'
	// Authenticate, which alone knows the key.
	// Counted in the database, so that several nodes behind a load
	// balancer share each key's limit instead of multiplying it.
	limiter := edge.NewRateLimiter(*rateLimit, *rateBurst).Shared(eng.CountRequest)
	handler := edge.RateLimit(limiter, newServer(eng, logger, op, api.WithStripeWebhookSecret(*stripeWebhookSecret)))
	srv := limits.server(handler, tlsConfig, logger)
	var wg sync.WaitGroup
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	op.recovery.Start()
	wg.Go(func() { eng.RunRecovery(workCtx, time.Second, recoveryMinAge) })
	wg.Go(func() { eng.RunInbox(workCtx, max(time.Second, *inboxDelay)) })
	batches := engine.NewBatchWorker(eng, *batchLease)
	batches.OnPass = op.batches.Beat
	op.batches.Start()
	wg.Go(func() { batches.Run(workCtx) })
	op.expiry.Start()
	wg.Go(func() { eng.RunExpiry(workCtx, *approvalSweep) })
	if *reconcileInterval > 0 {
		wg.Go(func() { eng.RunReconcile(workCtx, *reconcileInterval, reconcileWindow) })
	}

	errc := make(chan error, 1)
	go func() { errc <- serveOn(srv, ln) }()
	logger.Info("listening", "addr", ln.Addr().String(), "url", base)

	select {
	case err = <-errc:
	case <-ctx.Done():
		logger.Info("shutting down")
		shutCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = srv.Shutdown(shutCtx)
		cancel()
	}
	stopWork()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// newServer mounts every edge on one handler. Each edge is labelled with
// its dialect for the metrics, and the metrics middleware sits inside
// Observe, where it sees the route pattern the muxes matched.
func newServer(eng *engine.Engine, logger *slog.Logger, op *ops, apiOpts ...api.Option) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v1/", metrics.Dialect(refundry.SourceNative, api.NewHandler(eng, logger, apiOpts...)))
	// The dialects: each seed's refund route, wire-compatible. More
	// specific patterns win, so these take their paths from /v1/.
	mux.Handle("/v2.0/sales/refund/", metrics.Dialect(refundry.SourceKeepUp, keepup.NewHandler(eng, logger)))
	mux.Handle("/api/v2/origins/", metrics.Dialect(refundry.SourceTalkable, talkable.NewHandler(eng, logger)))
	mux.Handle("/v1/refunds/create", metrics.Dialect(refundry.SourcePayop, payop.NewHandler(eng, logger)))
	mux.Handle("/v2/product_sales/", metrics.Dialect(refundry.SourceRevCent, revcent.NewHandler(eng, logger)))
	jettiHandler := metrics.Dialect(refundry.SourceJetti, jetti.NewHandler(eng, logger))
	mux.Handle("/v1/transactions/", jettiHandler)
	mux.Handle("/transactions/", jettiHandler)
	mux.Handle("/dashboard/", metrics.Dialect(refundry.SourceDashboard, web.NewHandler(eng, logger, web.Options{})))
	mux.Handle("GET /{$}", http.RedirectHandler("/dashboard/", http.StatusFound))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "ok")
	})
	op.mount(mux)
	return edge.Observe(logger, op.metrics.Middleware(mux))
}

func displayAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if ok && tcp.IP.IsUnspecified() {
		return fmt.Sprintf("localhost:%d", tcp.Port)
	}
	return a.String()
}

// serveGCPercent is the garbage collector's target serve sets when GOGC
// is not set. A refund's request allocates a few tens of kilobytes that
// die with it, over a live heap of a few tens of megabytes, so the
// collector ran several times a second under load and took 6-9% of the
// server's CPU; at 200 it runs half as often, and the heap grows to
// three times the live heap between collections instead of twice. No
// memory limit is set: that depends on the machine, and GOMEMLIMIT is
// the operator's to give (docs/operations.md).
const serveGCPercent = 200

// fromEnv fills an unset flag from its environment twin.
func fromEnv(flagValue *string, getenv func(string) string, name string) {
	if *flagValue == "" {
		*flagValue = getenv(name)
	}
}

// serveKeyring loads the secrets key file. Without one, a demo server
// makes a key of its own, so that accounts can be tried out; any other
// server has no keyring, and refuses to add accounts (the engine answers
// unavailable) rather than store credentials it could not open after a
// restart.
func serveKeyring(path string, demo bool) (*secrets.Keyring, error) {
	if path != "" {
		k, err := secrets.Load(path)
		if err != nil {
			return nil, usageError{"--secrets-key-file: " + err.Error()}
		}
		return k, nil
	}
	if demo {
		return secrets.Ephemeral()
	}
	return nil, nil
}

// keyFileExposed warns of a secrets key file that users other than its
// owner may read or change: with the database, it is every merchant's
// credentials in clear. A warning, not a refusal, since some secret
// stores mount files readable by a group the service alone is in.
func keyFileExposed(path string) string {
	if path == "" {
		return ""
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return ""
	}
	return fmt.Sprintf("the secrets key file %s is open to users other than its owner (mode %v): chmod 600 it", path, fi.Mode().Perm())
}

// Package gatewaytest is the conformance suite every Refundry gateway
// runs: the simulator, Stripe (against stripe-mock), and the Payop,
// RevCent, Jetti and KeepUp connectors. The connectors refund through a
// Refundry playing the provider: the provider's own dialect handler over
// a real engine and a SQLite store on disk, holding the sale. After every
// case the two ledgers must agree: what the gateway reported is what the
// playing Refundry stored.
//
// The suite is its tests (conformance_test.go lists the cases, one
// harness per gateway beside it); this file only names the package.
package gatewaytest

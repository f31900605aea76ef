// Package gatewaytest is the conformance suite every Refundry gateway
// runs: the simulator, Stripe (against stripe-mock), and the Payop,
// RevCent, Jetti and KeepUp connectors. The connectors refund through a
// Refundry playing the provider: the provider's own dialect handler over
// a real engine and a SQLite store on disk, holding the sale. After every
// case the two ledgers must agree: what the gateway reported is what the
// playing Refundry stored.
//
// The same cases run end to end too (accounts_test.go): a merchant's
// Refundry holds a gateway account of each kind pointing at the playing
// Refundry, records each payment through the native API naming its
// account, and refunds it through the native API; what the merchant's
// Refundry then says of the refund (succeeded, failed, pending, or in
// manual review) must agree with what the provider holds, on SQLite and
// on PostgreSQL. A Talkable account, likewise, voids at a Refundry
// playing Talkable the referrals of a sale wholly refunded.
//
// The suite is its tests (conformance_test.go lists the cases, one
// harness per gateway beside it); this file only names the package.
package gatewaytest

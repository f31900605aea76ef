package postgres

import (
	"context"
	"time"

	"github.com/refundry/refundry"
)

// Refund controls: policies, users, and the refunds waiting for a person.

func (s *Store) FindRefundPolicy(ctx context.Context, merchantID string) (*refundry.RefundPolicy, error) {
	return &refundry.RefundPolicy{MerchantID: merchantID}, nil
}

func (s *Store) PutRefundPolicy(ctx context.Context, p *refundry.RefundPolicy) error {
	return refundry.Errorf(refundry.EINTERNAL, "refund policies are not stored yet")
}

func (s *Store) CreateUser(ctx context.Context, u *refundry.User) error {
	return refundry.Errorf(refundry.EINTERNAL, "users are not stored yet")
}

func (s *Store) FindUser(ctx context.Context, merchantID, id string) (*refundry.User, error) {
	return nil, refundry.Errorf(refundry.ENOTFOUND, "No such user: %s", id)
}

func (s *Store) FindUserByEmail(ctx context.Context, merchantID, email string) (*refundry.User, error) {
	return nil, refundry.Errorf(refundry.ENOTFOUND, "No such user: %s", email)
}

func (s *Store) ListUsers(ctx context.Context, merchantID string, p refundry.Page) ([]*refundry.User, bool, error) {
	return nil, false, nil
}

func (s *Store) DisableUser(ctx context.Context, merchantID, id string, now time.Time) (*refundry.User, error) {
	return nil, refundry.Errorf(refundry.ENOTFOUND, "No such user: %s", id)
}

func (s *Store) ExpiredApprovals(ctx context.Context, now time.Time, limit int) ([]*refundry.Refund, error) {
	return nil, nil
}

func (s *Store) RefundQueues(ctx context.Context, merchantID string) ([]refundry.RefundQueue, error) {
	out := make([]refundry.RefundQueue, len(refundry.QueueStatuses))
	for i, st := range refundry.QueueStatuses {
		out[i].Status = st
	}
	return out, nil
}

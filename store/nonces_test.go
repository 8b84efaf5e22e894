package store

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

func TestMemNoncesBounded(t *testing.T) {
	clk := newClock()
	n := NewNonces(clk.Now)
	// One client is bounded long before the store is.
	flood := netip.MustParseAddr("203.0.113.66")
	for range maxNoncesPerClient {
		if _, _, err := n.Issue(context.Background(), flood); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := n.Issue(context.Background(), flood); err != ErrTooManyChallenges {
		t.Fatalf("past the per-client cap: %v", err)
	}
	// Its network neighbours share a coarser bound; others are untouched.
	neighbours := 0
	for i := range 256 {
		if _, _, err := n.Issue(context.Background(), netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})); err == nil {
			neighbours++
		}
	}
	if neighbours+maxNoncesPerClient > maxNoncesPerNet {
		t.Fatalf("the /24 got %d challenges, bound %d", neighbours+maxNoncesPerClient, maxNoncesPerNet)
	}
	if _, _, err := n.Issue(context.Background(), netip.MustParseAddr("198.51.100.1")); err != nil {
		t.Fatalf("another client starved: %v", err)
	}
	// The global bound holds against many networks.
	issued := 0
	for i := range maxNonces + 10 {
		if _, _, err := n.Issue(context.Background(), netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})); err == nil {
			issued++
		}
	}
	if len(n.m) > maxNonces {
		t.Fatalf("%d outstanding, bound %d", len(n.m), maxNonces)
	}
	clk.Advance(NonceTTL + time.Second)
	if _, _, err := n.Issue(context.Background(), flood); err != nil {
		t.Fatalf("expired not pruned: %v", err)
	}
	if len(n.m) != 1 {
		t.Fatalf("%d outstanding after pruning", len(n.m))
	}
}

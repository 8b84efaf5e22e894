package policy

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gateway/config"
	"gateway/sender"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newStore(t *testing.T) (*Store, *clock, string) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	s, err := NewStore(dir, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	return s, clk, dir
}

func TestPairingCodes(t *testing.T) {
	s, clk, dir := newStore(t)
	ctx := context.Background()
	a, created, err := s.Request(ctx, "whatsapp", "+15550000001")
	if err != nil || !created {
		t.Fatal(created, err)
	}
	if len(a) != CodeLength || strings.Trim(a, CodeAlphabet) != "" {
		t.Fatalf("code %q not %d chars of the alphabet", a, CodeLength)
	}
	again, created, _ := s.Request(ctx, "whatsapp", "+15550000001")
	if again != a || created {
		t.Fatalf("re-contact got %q (created %v), want the same code %q", again, created, a)
	}
	_, _, _ = s.Request(ctx, "whatsapp", "+15550000002")
	_, _, _ = s.Request(ctx, "whatsapp", "+15550000003")
	if _, _, err := s.Request(ctx, "whatsapp", "+15550000004"); !errors.Is(err, ErrPendingFull) {
		t.Fatalf("fourth sender: %v, want ErrPendingFull", err)
	}
	// Other channels have their own queue.
	if _, _, err := s.Request(ctx, "signal", "+15550000004"); err != nil {
		t.Fatal(err)
	}
	// Expiry frees the queue.
	clk.Advance(CodeTTL + time.Second)
	if _, created, err := s.Request(ctx, "whatsapp", "+15550000004"); err != nil || !created {
		t.Fatalf("after expiry: %v", err)
	}
	if _, err := s.Approve(ctx, "whatsapp", a); !errors.Is(err, ErrNoCode) {
		t.Fatalf("approve of an expired code: %v, want ErrNoCode", err)
	}
	fi, _ := os.Stat(filepath.Join(dir, "credentials", "whatsapp-pairing.json"))
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("pairing file mode %v", fi.Mode())
	}
}

func TestApproveRejectIdempotent(t *testing.T) {
	s, _, dir := newStore(t)
	ctx := context.Background()
	code, _, _ := s.Request(ctx, "whatsapp", "+15550000001")
	sender, err := s.Approve(ctx, "whatsapp", strings.ToLower(code))
	if err != nil || sender != "+15550000001" {
		t.Fatalf("approve: %q %v", sender, err)
	}
	if _, err := s.Approve(ctx, "whatsapp", code); err != nil {
		t.Fatalf("second approve not idempotent: %v", err)
	}
	list, _ := s.AllowFrom(context.Background(), "whatsapp")
	if len(list) != 1 || list[0] != "+15550000001" {
		t.Fatalf("allowFrom = %v", list)
	}
	if p, _ := s.Pending("whatsapp"); len(p) != 0 {
		t.Fatalf("approved request still pending: %v", p)
	}
	// The approved sender no longer holds a queue slot; a new code for them
	// is not needed (Decide delivers), but a re-request would work.
	c2, _, _ := s.Request(ctx, "whatsapp", "+15550000002")
	if err := s.Reject(ctx, "whatsapp", c2); err != nil {
		t.Fatal(err)
	}
	if err := s.Reject(ctx, "whatsapp", c2); !errors.Is(err, ErrNoCode) {
		t.Fatalf("reject twice: %v", err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "credentials", "whatsapp-allowFrom.json"))
	if !strings.Contains(string(data), `"version": 1`) {
		t.Fatalf("allowFrom file = %s", data)
	}
}

func TestChannelNamesValidated(t *testing.T) {
	s, _, _ := newStore(t)
	for _, ch := range []string{"../etc", "a/b", "", "UPPER", strings.Repeat("a", 65), "x.json"} {
		if _, _, err := s.Request(context.Background(), ch, "x"); !errors.Is(err, ErrBadChannel) {
			t.Errorf("channel %q: %v", ch, err)
		}
	}
}

func TestCorruptFilesFailClosedAndStayUntouched(t *testing.T) {
	s, _, dir := newStore(t)
	ctx := context.Background()
	for _, name := range []string{"whatsapp-allowFrom.json", "whatsapp-pairing.json"} {
		p := filepath.Join(dir, "credentials", name)
		if err := os.WriteFile(p, []byte("{not json"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AllowFrom(context.Background(), "whatsapp"); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "whatsapp-allowFrom.json") {
		t.Fatalf("corrupt allowFrom: %v", err)
	}
	if _, _, err := s.Request(ctx, "whatsapp", "+15550000001"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt pairing: %v", err)
	}
	if _, err := s.Approve(ctx, "whatsapp", "AAAAAAAA"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("approve on corrupt pairing: %v", err)
	}
	for _, name := range []string{"whatsapp-allowFrom.json", "whatsapp-pairing.json"} {
		data, _ := os.ReadFile(filepath.Join(dir, "credentials", name))
		if string(data) != "{not json" {
			t.Fatalf("%s was overwritten: %s", name, data)
		}
	}
	e := &Engine{Channels: map[string]Channel{"whatsapp": {Name: "whatsapp", DMPolicy: DMPairing}}, Store: s}
	if _, err := e.Inbound(ctx, "whatsapp", "+15550000009", ChatDirect, ""); err == nil {
		t.Fatal("inbound with a corrupt store did not fail closed")
	}
}

func TestWildcardNeverStored(t *testing.T) {
	s, _, dir := newStore(t)
	p := filepath.Join(dir, "credentials", "whatsapp-allowFrom.json")
	_ = os.WriteFile(p, []byte(`{"version":1,"allowFrom":["*","+15550000001"]}`), 0o600)
	list, err := s.AllowFrom(context.Background(), "whatsapp")
	if err != nil || len(list) != 1 || list[0] != "+15550000001" {
		t.Fatalf("stored wildcard honoured: %v %v", list, err)
	}
	if err := s.addAllowed(context.Background(), "whatsapp", p, sender.Wildcard); err == nil {
		t.Fatal("wildcard persisted")
	}
}

func TestOpenClawStateFixture(t *testing.T) {
	// A state dir in OpenClaw's format, copied so the test can write.
	src := filepath.Join("testdata", "openclaw-state")
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	s, err := NewStore(dst, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	wa, err := s.AllowFrom(context.Background(), "whatsapp")
	if err != nil || len(wa) != 2 || wa[1] != "+442079460958" {
		t.Fatalf("whatsapp allowFrom = %v, %v", wa, err)
	}
	tg, _ := s.AllowFrom(context.Background(), "telegram")
	if len(tg) != 1 || tg[0] != "123456789" {
		t.Fatalf("telegram allowFrom = %v", tg)
	}
	p, err := s.Pending("whatsapp")
	if err != nil || len(p) != 1 || p[0].Code != "K7PQ2MXA" || p[0].ID != "+15557654321" {
		t.Fatalf("pending = %+v, %v", p, err)
	}
	// The same sender gets the same code back, and approval works.
	code, created, err := s.Request(context.Background(), "whatsapp", "+15557654321")
	if err != nil || created || code != "K7PQ2MXA" {
		t.Fatalf("re-contact: %q %v %v", code, created, err)
	}
	if _, err := s.Approve(context.Background(), "whatsapp", "k7pq2mxa"); err != nil {
		t.Fatal(err)
	}
	wa, _ = s.AllowFrom(context.Background(), "whatsapp")
	if len(wa) != 3 {
		t.Fatalf("after approval = %v", wa)
	}
}

func TestEngineInbound(t *testing.T) {
	s, _, _ := newStore(t)
	counters := &Counters{}
	ch := newChannel(t, "whatsapp", ChannelConfigForTest())
	e := &Engine{Channels: map[string]Channel{"whatsapp": ch}, Store: s, Counters: counters}
	ctx := context.Background()
	res, err := e.Inbound(ctx, "whatsapp", "+1 555 000 0001", ChatDirect, "")
	if err != nil || res.Action != Pairing || !res.NewCode || res.From != "+15550000001" {
		t.Fatalf("new sender: %+v %v", res, err)
	}
	if _, err := s.Approve(ctx, "whatsapp", res.Code); err != nil {
		t.Fatal(err)
	}
	res, _ = e.Inbound(ctx, "whatsapp", "0015550000001", ChatDirect, "")
	if res.Action != Deliver {
		t.Fatalf("approved sender: %+v", res)
	}
	if _, err := e.Inbound(ctx, "nope", "+15550000001", ChatDirect, ""); !errors.Is(err, ErrUnknownChannel) {
		t.Fatalf("unknown channel: %v", err)
	}
	if _, err := e.Inbound(ctx, "whatsapp", "garbage", ChatDirect, ""); !errors.Is(err, sender.ErrBadSender) {
		t.Fatalf("bad sender: %v", err)
	}
	for i := 2; i <= 4; i++ {
		_, _ = e.Inbound(ctx, "whatsapp", "+1555000000"+string(rune('0'+i)), ChatDirect, "")
	}
	res, _ = e.Inbound(ctx, "whatsapp", "+15550000009", ChatDirect, "")
	if res.Action != Drop || res.Code != "" {
		t.Fatalf("queue full: %+v", res)
	}
	snap := counters.Snapshot()
	if len(snap) == 0 {
		t.Fatal("no counters")
	}
}

func ChannelConfigForTest() config.Channel { return config.Channel{DMPolicy: "pairing"} }

package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/plugboard/plugboard/core"
	"github.com/plugboard/plugboard/internal/ephemeral"
	"github.com/plugboard/plugboard/internal/fault"
)

// Login throttling (docs/decisions.md, "Login throttling"). Every key lives
// in the ephemeral store, so that every replica agrees:
//
//	login-fail:pair:T/U|A   failures of user U of tenant T from address A
//	login-fail:user:T/U     failures of U from every address
//	login-fail:addr:A       failures from A, whatever the user
//	login-block:…           a refusal in force: its value is when it ends
//	login-busy:pair:T/U|A   an attempt of U from A is being checked
//	login-ok:T/U|A          U logged in from A lately (a known address)
//
// A pair's failures past BackoffAfter block it for 1 s, 2 s, 4 s … up to
// MaxBackoff; a user is refused from unknown addresses only after
// MaxFailuresPerUser failures from all addresses; an address after
// MaxFailuresPerAddr failures across users.

// throttleError is the cause of a rate_limited login: how long to wait.
type throttleError struct{ wait time.Duration }

func (e *throttleError) Error() string { return "login throttled for " + e.wait.String() }

// RetryAfter returns how long a login refused as rate_limited should wait,
// in whole seconds rounded up (at least one), and whether err is such a
// refusal.
func RetryAfter(err error) (int, bool) {
	var te *throttleError
	if !errors.As(err, &te) {
		return 0, false
	}
	return max(1, int(math.Ceil(te.wait.Seconds()))), true
}

func (s *Service) throttled(wait time.Duration) error {
	secs, _ := RetryAfter(&throttleError{wait})
	unit := "seconds"
	if secs == 1 {
		unit = "second"
	}
	return fault.Wrap(&throttleError{wait}, fault.RateLimited,
		fmt.Sprintf("Too many failed logins; try again in %d %s.", secs, unit))
}

// errBusy refuses an attempt while another of the same user from the same
// address is being checked.
var errBusy = fault.Wrap(&throttleError{time.Second}, fault.RateLimited,
	"Another login of this user from this address is still in progress; try again in a second.")

// loginKeys are the throttle keys of one attempt.
type loginKeys struct {
	pair, user, addr string
}

func newLoginKeys(tenantName, username, remoteAddr string) loginKeys {
	user := core.NormalizeHandle(tenantName) + "/" + core.NormalizeHandle(username)
	if len(user) > 512 { // no name is that long: keep the store's keys short
		sum := sha256.Sum256([]byte(user))
		user = "sha256:" + hex.EncodeToString(sum[:])
	}
	addr := addressKey(remoteAddr)
	return loginKeys{pair: user + "|" + addr, user: user, addr: addr}
}

// addressKey is the address a client is throttled as: its IP, or for IPv6
// its /64, which one subscriber usually holds whole.
func addressKey(remoteAddr string) string {
	h := remoteAddr
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		h = host
	}
	a, err := netip.ParseAddr(h)
	if err != nil {
		return h
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// busyWait is how long an attempt waits for another of the same user from
// the same address to be checked before it is refused.
const busyWait = 3 * time.Second

// admit decides, before the password is checked, whether an attempt may be
// checked at all. On admission it holds the pair's busy mark, so that
// parallel guesses from one address for one user are checked one at a time
// (a later one waits, and then sees the block the earlier ones earned);
// release drops it.
func (s *Service) admit(ctx context.Context, k loginKeys) (release func(), err error) {
	busy := "login-busy:pair:" + k.pair
	var serr error
	for waited := time.Duration(0); ; waited += 20 * time.Millisecond {
		var ok bool
		ok, serr = s.state.SetNX(ctx, busy, []byte("1"), 30*time.Second)
		if serr != nil {
			s.logger.Warn("could not mark a login attempt", slog.Any("error", serr))
			break // the store is down: do not lock everyone out
		}
		if ok {
			break
		}
		if waited >= busyWait {
			return nil, errBusy
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for a concurrent login: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	release = func() {
		if serr == nil {
			_ = s.state.Delete(context.WithoutCancel(ctx), busy)
		}
	}
	// Checked after the busy mark is held, so that a failure that just
	// ended in parallel has set its block before we look.
	if wait, blocked := s.blocked(ctx, "addr:"+k.addr); blocked {
		release()
		return nil, s.throttled(wait)
	}
	if wait, blocked := s.blocked(ctx, "pair:"+k.pair); blocked {
		release()
		return nil, s.throttled(wait)
	}
	if wait, blocked := s.blocked(ctx, "user:"+k.user); blocked && !s.known(ctx, k) {
		release()
		return nil, s.throttled(wait)
	}
	return release, nil
}

// failed records a failed attempt and sets the blocks it earns.
func (s *Service) failed(ctx context.Context, k loginKeys) {
	count := func(key string) int64 {
		n, err := s.state.Incr(ctx, "login-fail:"+key, s.opt.FailureWindow)
		if err != nil {
			s.logger.Warn("could not count a failed login", slog.Any("error", err))
		}
		return n
	}
	if n := count("pair:" + k.pair); n >= int64(s.opt.BackoffAfter) {
		s.block(ctx, "pair:"+k.pair, s.backoff(n))
	}
	if n := count("addr:" + k.addr); n >= int64(s.opt.MaxFailuresPerAddr) {
		s.block(ctx, "addr:"+k.addr, s.opt.FailureWindow)
	}
	if n := count("user:" + k.user); n >= int64(s.opt.MaxFailuresPerUser) {
		s.block(ctx, "user:"+k.user, s.opt.FailureWindow)
	}
}

// succeeded clears the pair's failures and remembers the address as one
// the user logs in from.
func (s *Service) succeeded(ctx context.Context, k loginKeys) {
	_ = s.state.Delete(ctx, "login-fail:pair:"+k.pair)
	_ = s.state.Delete(ctx, "login-block:pair:"+k.pair)
	if err := s.state.Set(ctx, "login-ok:"+k.pair, []byte("1"), s.opt.KnownAddressTTL); err != nil {
		s.logger.Warn("could not remember a login address", slog.Any("error", err))
	}
}

// backoff is the block after the n-th failure of a pair: 1 s after the
// BackoffAfter-th, doubling with each further one, at most MaxBackoff.
func (s *Service) backoff(n int64) time.Duration {
	shift := n - int64(s.opt.BackoffAfter)
	if shift >= 30 {
		return s.opt.MaxBackoff
	}
	return min(time.Second<<shift, s.opt.MaxBackoff)
}

// block refuses key's logins for d from now.
func (s *Service) block(ctx context.Context, key string, d time.Duration) {
	until := s.now().Add(d).UnixMilli()
	if err := s.state.Set(ctx, "login-block:"+key, []byte(strconv.FormatInt(until, 10)), d); err != nil {
		s.logger.Warn("could not throttle logins", slog.Any("error", err))
	}
}

// blocked reports whether key's logins are refused, and for how much longer.
func (s *Service) blocked(ctx context.Context, key string) (time.Duration, bool) {
	v, err := s.state.Get(ctx, "login-block:"+key)
	if errors.Is(err, ephemeral.ErrNotFound) {
		return 0, false
	}
	if err != nil {
		s.logger.Warn("could not read the login throttle", slog.Any("error", err))
		return 0, false
	}
	until, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, false
	}
	wait := time.UnixMilli(until).Sub(s.now())
	return wait, wait > 0
}

// known reports whether the user logged in from this address lately.
func (s *Service) known(ctx context.Context, k loginKeys) bool {
	_, err := s.state.Get(ctx, "login-ok:"+k.pair)
	return err == nil
}

package bus

import (
	"context"
	"time"
)

// maxHostBatchBytes bounds one Poll or Recv batch of a host subscription (payload + topic bytes;
// the first message always fits).
const maxHostBatchBytes = 1 << 20

// Poll returns what is queued now, up to 1 MiB, without waiting: messages of one principal,
// oldest first, and the number of messages dropped since the previous batch. As with Drain,
// each message may be given back with Release when done, or simply kept.
func (s *Subscription) Poll() Batch {
	b := s.mailbox.Drain(nil, maxHostBatchBytes, func(*Message) bool { return true })
	b.Refused = nil
	return b
}

// Recv waits up to timeout for at least one message, then returns like Poll. It returns
// ctx.Err() when ctx ends and ErrClosed when the subscription or the bus closed; a timeout
// returns an empty Batch.
func (s *Subscription) Recv(ctx context.Context, timeout time.Duration) (Batch, error) {
	if _, err := s.mailbox.Wait(ctx, timeout); err != nil {
		return Batch{}, err
	}
	return s.Poll(), nil
}

// Stats returns the subscription's mailbox counters.
func (s *Subscription) Stats() MailboxStats { return s.mailbox.Stats() }

package bus

import "github.com/astrid-actors/astrid-actors/topics"

// NewMessage returns a message holding a copy of payload, in one allocation for payloads up to
// 4 KiB (as Publish does), with one reference: the caller's. The cluster's frame decoder builds
// injected messages with it; the caller sets the other fields before handing the message (and
// its reference) to Inject or InjectBatch.
func NewMessage(payload []byte) *Message { return newMessage(payload) }

// InjectBatch is Inject for the messages of one frame from another node, in order: each run of
// consecutive messages on one topic (up to maxRun) is validated and matched once and pushed into
// each matching mailbox under one lock with at most one wake-up (Mailbox.PushBatch), as
// Publisher.PublishBatch does; the counters are updated once. A message with an invalid topic
// matches nothing. The bus takes ownership of the messages. It returns the total number of
// subscriptions matched.
func (b *Bus) InjectBatch(msgs []*Message) int {
	if len(msgs) == 0 || b.closed.Load() {
		for _, m := range msgs {
			m.unref(1)
		}
		return 0
	}
	c := b.getL1()
	defer b.putL1(c)
	total, injected := 0, 0
	for start := 0; start < len(msgs); {
		topic := msgs[start].Topic
		end := start + 1
		for end < len(msgs) && end-start < maxRun && msgs[end].Topic == topic {
			end++
		}
		run := msgs[start:end]
		start = end
		if topics.Validate(topic, topics.HostLimits) != nil {
			for _, m := range run {
				m.unref(1)
			}
			continue
		}
		injected += len(run)
		total += len(run) * deliverGroupsBatch(c.lookup(b, topic), run)
		for _, m := range run {
			b.runTaps(m)
			m.unref(1) // the reference the caller handed over
		}
	}
	b.stats.injected.Add(uint64(injected))
	b.stats.matched.Add(uint64(total))
	return total
}

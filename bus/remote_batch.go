package bus

import "github.com/astrid-actors/astrid-actors/topics"

// NewMessage returns a message holding a copy of payload, in one allocation for payloads up to
// 1 KiB (as Publish does). The cluster's frame decoder builds injected messages with it; the
// caller sets the other fields before handing the message to Inject or InjectBatch.
func NewMessage(payload []byte) *Message { return newMessage(payload) }

// InjectBatch is Inject for the messages of one frame from another node, in order: the topic
// of a run of messages on the same topic is validated once, one match cache serves the whole
// batch and the counters are updated once. A message with an invalid topic matches nothing.
// The bus takes ownership of the messages. It returns the total number of subscriptions matched.
func (b *Bus) InjectBatch(msgs []*Message) int {
	if len(msgs) == 0 || b.closed.Load() {
		return 0
	}
	c := b.getL1()
	defer b.putL1(c)
	total, injected := 0, 0
	var topic string
	valid := false
	for i, msg := range msgs {
		if i == 0 || msg.Topic != topic {
			topic = msg.Topic
			valid = topics.Validate(topic, topics.HostLimits) == nil
		}
		if !valid {
			continue
		}
		injected++
		total += deliverGroups(c.lookup(b, topic), msg)
		b.runTaps(msg)
	}
	b.stats.injected.Add(uint64(injected))
	b.stats.matched.Add(uint64(total))
	return total
}

//go:build race

package bus

// poisonByte fills the payload of a released message in race-enabled builds.
const poisonByte = 0xDD

// releasedTopic is the topic a released message carries in race-enabled builds until it is
// reused, so that a test reading a message after its release sees garbage.
const releasedTopic = "bus.released"

// poison overwrites m, whose last reference was just released and whose fields recycle
// cleared, so that a use after release reads garbage: the bytes of its former payload become
// 0xDD, its topic releasedTopic, its sequence number the largest. A reuse overwrites all of it
// again. Only race-enabled builds pay for it.
func poison(m *Message, payload []byte) {
	for i := range payload {
		payload[i] = poisonByte
	}
	m.Topic = releasedTopic
	m.Seq = ^uint64(0)
}

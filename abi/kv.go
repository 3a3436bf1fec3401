package abi

import "encoding/binary"

// KVPageHeaderSize is the fixed part of a kv-list-keys-page result: u32 key_count and
// u32 next_cursor_len.
const KVPageHeaderSize = 8

// KVPage is a decoded kv-list-keys-page result (ABI §7):
//
//	u32 key_count | u32 next_cursor_len | next_cursor | (u32 key_len | key) × key_count
type KVPage struct {
	// Keys are in byte order.
	Keys []string
	// NextCursor is empty when no keys remain after this page; otherwise it is the page's last
	// key, to pass back as the cursor of the next call.
	NextCursor string
}

// DecodeKVPage decodes a page; ErrTruncated when b is shorter than its lengths say or has
// bytes left over.
func DecodeKVPage(b []byte) (KVPage, error) {
	if len(b) < KVPageHeaderSize {
		return KVPage{}, ErrTruncated
	}
	count := binary.LittleEndian.Uint32(b)
	clen := binary.LittleEndian.Uint32(b[4:])
	b = b[KVPageHeaderSize:]
	if uint64(clen) > uint64(len(b)) {
		return KVPage{}, ErrTruncated
	}
	p := KVPage{NextCursor: string(b[:clen])}
	b = b[clen:]
	if uint64(count)*4 > uint64(len(b)) {
		return KVPage{}, ErrTruncated
	}
	p.Keys = make([]string, 0, count)
	for range count {
		if len(b) < 4 {
			return KVPage{}, ErrTruncated
		}
		n := binary.LittleEndian.Uint32(b)
		if uint64(n) > uint64(len(b)-4) {
			return KVPage{}, ErrTruncated
		}
		p.Keys = append(p.Keys, string(b[4:4+n]))
		b = b[4+n:]
	}
	if len(b) != 0 {
		return KVPage{}, ErrTruncated
	}
	return p, nil
}

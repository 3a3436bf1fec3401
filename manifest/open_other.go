//go:build !(unix || windows)

package manifest

// openNonBlock: this platform has no non-blocking open; the regular-file check still applies.
const openNonBlock = 0

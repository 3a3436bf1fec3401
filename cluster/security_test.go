package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/astrid-actors/astrid-actors/bus"
)

// TestTokenRefusesStrangers: a node with another token never becomes a member, while one with
// the right token joins.
func TestTokenRefusesStrangers(t *testing.T) {
	n1 := startTestNode(t, Options{Node: "n1", Token: "s3cret"})
	stranger := startTestNode(t, Options{Node: "bad", Token: "wrong", Seeds: []string{n1.node.Addr()}})
	n2 := startTestNode(t, Options{Node: "n2", Token: "s3cret", Seeds: []string{n1.node.Addr()}})
	waitFor(t, 10*time.Second, "n2 joins n1", func() bool { return slices.Equal(memberNames(n1.node), []string{"n1", "n2"}) })
	// The stranger dialled n1 before n2 did; its route was refused.
	if got := memberNames(stranger.node); !slices.Equal(got, []string{"bad"}) {
		t.Fatalf("the stranger sees %v", got)
	}
	if got := memberNames(n2.node); !slices.Equal(got, []string{"n1", "n2"}) {
		t.Fatalf("n2 sees %v", got)
	}
}

// newCert writes a PEM certificate and key signed by parent/parentKey (self-signed when parent
// is nil) and returns them with their file names.
func newCert(t *testing.T, dir, name string, isCA bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		IsCA:         isCA, BasicConstraintsValid: true,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	certFile := filepath.Join(dir, name+".pem")
	keyFile := filepath.Join(dir, name+".key")
	kb, _ := x509.MarshalECPrivateKey(key)
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key, certFile, keyFile
}

// TestMutualTLS: nodes with certificates of the cluster's CA form a cluster over TLS routes
// and carry messages; a node whose certificate another CA signed is refused.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey, caFile, _ := newCert(t, dir, "ca", true, nil, nil)
	_, _, c1, k1 := newCert(t, dir, "n1", false, ca, caKey)
	_, _, c2, k2 := newCert(t, dir, "n2", false, ca, caKey)
	other, otherKey, otherCA, _ := newCert(t, dir, "otherca", true, nil, nil)
	_, _, c3, k3 := newCert(t, dir, "n3", false, other, otherKey)
	tls1, err := LoadTLS(c1, k1, caFile)
	if err != nil {
		t.Fatal(err)
	}
	tls2, err := LoadTLS(c2, k2, caFile)
	if err != nil {
		t.Fatal(err)
	}
	tls3, err := LoadTLS(c3, k3, otherCA)
	if err != nil {
		t.Fatal(err)
	}
	n1 := startTestNode(t, Options{Node: "n1", TLS: tls1})
	stranger := startTestNode(t, Options{Node: "n3", TLS: tls3, Seeds: []string{n1.node.Addr()}})
	n2 := startTestNode(t, Options{Node: "n2", TLS: tls2, Seeds: []string{n1.node.Addr()}})
	waitFor(t, 10*time.Second, "n2 joins n1 over TLS", func() bool { return slices.Equal(memberNames(n1.node), []string{"n1", "n2"}) })
	if got := memberNames(stranger.node); !slices.Equal(got, []string{"n3"}) {
		t.Fatalf("the node of another CA sees %v", got)
	}
	sub, err := n2.bus.Subscribe(t.Context(), "tls.*", bus.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n1.bus.Publish("tls.x", []byte(`1`), uuid.Nil, bus.System()); err != nil {
		t.Fatal(err)
	}
	if m, _ := recvOne(t, sub); m.Topic != "tls.x" {
		t.Fatalf("got %+v", m)
	}
	if _, err := LoadTLS(c1, k1, ""); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("LoadTLS without a CA: %v", err)
	}
	if _, err := LoadTLS(c1, k1, c1+".missing"); err == nil {
		t.Fatal("LoadTLS with a missing CA file succeeded")
	}
}

package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// The example of the Standard Webhooks specification: this secret, id,
// timestamp and body sign to this signature. It was computed from the
// specification's recipe with openssl, independently of this code:
//
//	printf '%s' 'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}' |
//	  openssl dgst -sha256 -hmac "$(printf '%s' MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw | base64 -d)" -binary | base64
func TestSignKnownVector(t *testing.T) {
	got, err := Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("signature %s; want %s", got, want)
	}
}

func TestSignMatchesHMACOfTheParts(t *testing.T) {
	secret := NewSecret()
	if !strings.HasPrefix(secret, SecretPrefix) {
		t.Fatalf("secret %q", secret)
	}
	k, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if len(k) != 24 {
		t.Fatalf("key of %d bytes", len(k))
	}
	body := []byte(`{"id":5,"type":"order_created"}`)
	got, _ := Sign(secret, "5", time.Unix(1700000000, 0), body)
	mac := hmac.New(sha256.New, k)
	mac.Write([]byte("5.1700000000." + string(body)))
	if want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)); got != want {
		t.Fatalf("%s != %s", got, want)
	}
	if _, err := Sign("whsec_***", "5", time.Now(), body); err == nil {
		t.Fatal("a secret that is not base64 signed")
	}
	if NewSecret() == secret {
		t.Fatal("two secrets alike")
	}
}

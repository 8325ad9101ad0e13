package imageregistry

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// Credentials are the registry's one account.
type Credentials struct {
	Username string
	Password string
}

// DefaultUsername is the account name berth generates.
const DefaultUsername = "berth"

// LoadOrCreateCredentials reads path ("USERNAME:PASSWORD\n", mode 0600) or,
// when it doesn't exist, generates a random password and writes it, so the
// credentials stay the same across restarts.
func LoadOrCreateCredentials(path string) (Credentials, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		user, pass, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
		if !ok || user == "" || pass == "" {
			return Credentials{}, fmt.Errorf("%s: want USERNAME:PASSWORD", path)
		}
		return Credentials{Username: user, Password: pass}, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return Credentials{}, fmt.Errorf("read registry credentials: %w", err)
	}
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return Credentials{}, fmt.Errorf("generate registry password: %w", err)
	}
	c := Credentials{Username: DefaultUsername, Password: hex.EncodeToString(raw)}
	if err := os.WriteFile(path, []byte(c.Username+":"+c.Password+"\n"), 0o600); err != nil {
		return Credentials{}, fmt.Errorf("write registry credentials: %w", err)
	}
	return c, nil
}

// Valid reports whether user and pass match, in constant time.
func (c Credentials) Valid(user, pass string) bool {
	u := subtle.ConstantTimeCompare([]byte(user), []byte(c.Username))
	p := subtle.ConstantTimeCompare([]byte(pass), []byte(c.Password))
	return u&p == 1
}

// requireBasicAuth answers 401 with a Basic challenge, the way distribution's
// htpasswd access controller does, so docker and go-containerregistry retry
// with the stored credentials.
func requireBasicAuth(c Credentials, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || !c.Valid(user, pass) {
			w.Header().Set("WWW-Authenticate", `Basic realm="berth-registry"`)
			w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
			writeRegistryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
			return
		}
		next.ServeHTTP(w, r)
	})
}

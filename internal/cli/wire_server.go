package cli

import (
	"net/http"
	"time"
)

// httpServer is serve's HTTP server. TEMPORARY until internal/server lands.
func (a *app) httpServer() *http.Server {
	return &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: 10 * time.Second}
}

package console

import (
	"html/template"
	"io"

	"github.com/opwatch/opwatch/internal/auth"
)

// loginPage is the sign-in page in the console's look, for auth.Config's
// RenderLogin: the stylesheet and the header's brand, no navigation (no
// one is signed in), no inline script or style.
var loginPage = template.Must(template.ParseFS(assets, "templates/login.html"))

// RenderLogin renders the login page for package auth (auth.Config's
// RenderLogin), which sets the status and headers before calling it.
func RenderLogin(w io.Writer, d auth.LoginData) error {
	return loginPage.ExecuteTemplate(w, "login", d)
}

package logtype

// SignInAttempt is OnePassword.SignInAttempt: the signinattempts endpoint.
func SignInAttempt() *LogType {
	return newLogType(LogType{
		Name:         "OnePassword.SignInAttempt",
		Table:        "onepassword_signinattempt",
		Feature:      "signinattempts",
		Description:  "Successful and failed attempts to sign in to a 1Password account, including those the account's firewall blocked.",
		ReferenceURL: "https://support.1password.com/events-api-reference/#sign-in-attempts",
		Fields: []Field{
			uuidField("sign-in attempt"),
			{Name: "session_uuid", Type: String, Description: "The UUID of the session that tried to sign in."},
			timestampField("sign-in attempt happened"),
			{Name: "category", Type: String, Description: "The outcome of the sign-in attempt: success, credentials_failed, mfa_failed, sso_failed, modern_version_failed, firewall_failed or firewall_reported_success. Only success and firewall_reported_success are successful sign-ins."},
			{Name: "type", Type: String, Description: "Details about the outcome: all_blocked, anonymous_blocked, code_bad, code_disabled, code_timeout, continent_blocked, country_blocked, credentials_ok, duo_bad, duo_disabled, duo_native_bad, duo_timeout, federated, ip_blocked, mfa_missing, mfa_ok, modern_version_missing, modern_version_old, non_sso_user, password_secret_bad, platform_secret_bad, platform_secret_disabled, platform_secret_proxy, service_account_sso_denied, sso_user_mismatch, totp_bad, totp_disabled, totp_timeout, u2f_bad, u2f_disabled or u2f_timeout (spelt u2f_timout in the 1.2.0 specification). New values are stored as they come."},
			{Name: "country", Type: String, Description: "The country of the IP address that tried to sign in, as an ISO 3166 code such as US (some 1Password examples show a country name)."},
			{Name: "details", Type: Object, Description: "Additional information about the sign-in attempt; null when there is none.", Fields: []Field{
				{Name: "value", Type: String, Description: "For sign-ins the firewall blocked or reported: the continent, country or IP address the firewall rule matched."},
			}},
			{Name: "target_user", Type: Object, Description: "The user who tried to sign in.", Fields: userFields("the user who tried to sign in")},
			{Name: "client", Type: Object, Description: "The 1Password app that tried to sign in.", Fields: clientFields()},
			locationField("1.2.0"),
			{Name: "account_uuid", Type: String, Since: "v2", Description: "The UUID of the account where the sign-in attempt happened (documented for MSP accounts)."},
		},
	})
}

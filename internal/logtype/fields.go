package logtype

// The sub-objects that several log types share. They are functions, not
// variables, so every LogType owns its own copy and no caller can change
// another's schema.

// userFields are the members of a user object: target_user of a sign-in
// attempt, user of an item usage, actor_details of an audit event. v2 adds
// user_type and user_account_uuid for MSP accounts.
func userFields(who string) []Field {
	return []Field{
		{Name: "uuid", Type: String, Description: "The UUID of " + who + "."},
		{Name: "name", Type: String, Description: "The name of " + who + ", hydrated at the time the event was generated."},
		{Name: "email", Type: String, Indicator: "email", Description: "The email address of " + who + ", hydrated at the time the event was generated."},
		{Name: "user_type", Type: String, Since: "v2", Description: "The type of user: user, or external_user (MSP accounts only)."},
		{Name: "user_account_uuid", Type: String, Since: "v2", Description: "The UUID of the account the user belongs to (MSP accounts only)."},
	}
}

// detailsFields are the members of an audit event's object_details and
// aux_details, which 1Password sends only when that entity is a user.
func detailsFields(who string) []Field {
	return []Field{
		{Name: "uuid", Type: String, Description: "The UUID of " + who + "."},
		{Name: "name", Type: String, Description: "The name of " + who + "."},
		{Name: "email", Type: String, Indicator: "email", Description: "The email address of " + who + "."},
	}
}

// clientFields describe the 1Password app that produced a sign-in attempt
// or an item usage.
func clientFields() []Field {
	return []Field{
		{Name: "app_name", Type: String, Description: "The name of the 1Password app, for example 1Password for Mac, 1Password for Windows, 1Password Browser Extension, 1Password CLI or 1Password SCIM Bridge."},
		{Name: "app_version", Type: String, Description: "The version number of the app, as a build number such as 20127."},
		{Name: "platform_name", Type: String, Description: "The name of the platform the app runs on: a browser (Chrome, Firefox extension) or a device name."},
		{Name: "platform_version", Type: String, Description: "Depending on the platform: the version of the browser the extension is installed in, the model of computer the native app is installed on, or the CPU of the machine the CLI is installed on."},
		{Name: "os_name", Type: String, Description: "The name of the operating system, for example MacOSX, Windows, Linux, iOS or Android."},
		{Name: "os_version", Type: String, Description: "The version of the operating system."},
		{Name: "ip_address", Type: String, Indicator: "ip", Description: "The IP address (IPv4 or IPv6) the app connected from."},
	}
}

// locationFields are the geolocation 1Password derives from the client's IP
// address (API 1.2.0, March 2022); events without a geolocation have none.
func locationFields() []Field {
	return []Field{
		{Name: "country", Type: String, Description: "The country of the IP address: a name such as Canada, or an ISO 3166 code such as CA."},
		{Name: "region", Type: String, Description: "The region (state or province) of the IP address."},
		{Name: "city", Type: String, Description: "The city of the IP address."},
		{Name: "latitude", Type: Float, Description: "The latitude of the IP address."},
		{Name: "longitude", Type: Float, Description: "The longitude of the IP address."},
	}
}

func locationField(since string) Field {
	return Field{
		Name: "location", Type: Object, Since: since,
		Description: "Geolocation of the client's IP address at the time of the event. Missing when 1Password has none.",
		Fields:      locationFields(),
	}
}

func uuidField(what string) Field {
	return Field{Name: "uuid", Type: String, Required: true, Description: "The UUID of the " + what + ". With the timestamp, it identifies the event: opwatch stores each event once per 1Password account and log type, however many sources read it, a source removed and added again included (once per source while its account is not known yet)."}
}

func timestampField(what string) Field {
	return Field{Name: "timestamp", Type: Timestamp, Required: true, Description: "When the " + what + ", in RFC 3339 format; stored in UTC as p_event_time."}
}

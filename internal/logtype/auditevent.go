package logtype

// AuditEvent is OnePassword.AuditEvent: the auditevents endpoint.
//
// Panther's published YAML for this type was not available; the fields
// follow 1Password's AuditEvent and AuditEventV2 objects, and session.ip is
// the IP indicator as in Panther's IPinfo and Tor lookup-table selectors.
func AuditEvent() *LogType {
	return newLogType(LogType{
		Name:         "OnePassword.AuditEvent",
		Table:        "onepassword_auditevent",
		Feature:      "auditevents",
		Description:  "Actions performed by team members in a 1Password account, as in the Activity Log: changes to the account, its users, groups, vaults, devices, settings and integrations.",
		ReferenceURL: "https://support.1password.com/events-api-reference/#audit-events",
		Fields: []Field{
			uuidField("audit event"),
			timestampField("action was performed"),
			{Name: "actor_uuid", Type: String, Description: "The UUID of the user who performed the action."},
			{Name: "actor_details", Type: Object, Description: "The user who performed the action (sent since August 2023).", Fields: userFields("the user who performed the action")},
			{Name: "action", Type: String, Description: "The action that was performed: activate, addgsso, begin, beginr, cancel, cancelr, changeks, changela, changemp, changenm, changesk, chngasso, chngdsso, chngpsso, complete, completr, convert, create, dealldev, delete, delgsso, delshare, deolddev, detchild, disblduo, disblmfa, disblsso, dlgsess, dvrfydmn, enblduo, enblmfa, enblsso, expire, export, grant, hide, join, launchi, leave, musercom, muserdec, patch, propose, provsn, prsndall, purge, rdmchild, reactive, reauth, replace, resendts, revoke, role, sdvcsso, sendpkg, sendts, share, ssotknv, suspend, tdvcsso, trename, trevoke, trvlaway, trvlback, tverify, uisas, unhide, unknown, unlink, updatduo, update, updatea, updatfw, updatmfa, upguest, uvrfydmn, verify, view or vrfydmn. Its meaning depends on object_type: for example grant on uva gives a user access to a vault, disblmfa on account turns off multi-factor authentication for everyone."},
			{Name: "object_type", Type: String, Description: "The type of object the action was performed on: account, card, cred (passkey), device, dlgdsess (delegated session), ec (email change), famchild (linked family account), file, gm (group membership), group, gva (group vault access), invite, item, itemhist (item history), items, miguser (migrating user), mngdacc (managed account), pm (payment method), report, sa (service account), satoken (service account token), slackapp, sso, ssotkn (SSO sign-in token), sub (subscription), template, user, uva (user vault access), vault or vaultkey."},
			{Name: "object_uuid", Type: String, Description: "The UUID of the object the action was performed on; may be empty, for example when a report is viewed."},
			{Name: "object_details", Type: Object, Description: "The object the action was performed on, when it is a user (sent since August 2023).", Fields: detailsFields("the user the action was performed on")},
			{Name: "aux_id", Type: BigInt, Description: "The ID of an additional entity related to the action, such as an item version or a count of items."},
			{Name: "aux_uuid", Type: String, Description: "The UUID of an additional entity related to the action, such as the user or group whose membership or vault access changed."},
			{Name: "aux_details", Type: Object, Description: "The additional entity, when it is a user (sent since August 2023).", Fields: detailsFields("the additional user")},
			{Name: "aux_info", Type: String, Description: "Additional information about the action, such as a group membership role (R member, A manager), an invitee's email address or a token name."},
			{Name: "session", Type: Object, Description: "The session in which the action was performed.", Fields: []Field{
				{Name: "uuid", Type: String, Description: "The UUID of the session."},
				{Name: "login_time", Type: Timestamp, Description: "When the session signed in, in RFC 3339 format."},
				{Name: "device_uuid", Type: String, Description: "The UUID of the device that signed in."},
				{Name: "ip", Type: String, Indicator: "ip", Description: "The IP address (IPv4 or IPv6) the session was created from."},
			}},
			locationField(""),
			{Name: "actor_type", Type: String, Since: "v2", Description: "The type of user who performed the action: user, or external_user (MSP accounts only)."},
			{Name: "actor_account_uuid", Type: String, Since: "v2", Description: "The UUID of the account the user who performed the action belongs to; sent for MSP accounts."},
			{Name: "account_uuid", Type: String, Since: "v2", Description: "The UUID of the account where the action was performed."},
		},
	})
}

package emulator

// The audit catalogue: every documented object_type × action combination
// (reference section 5.6), how often it happens, who does it, and which
// object and aux fields it carries. Weights are per 10,000 events; the real
// sample is dominated by delegated sessions and vault item patches.
//
// The combinations a detection alerts on at every occurrence (MFA, Duo, SSO
// and firewall changes, exports, service accounts and their tokens created
// or changed, vaults shared with groups, invitations by hand in an account
// that provisions by SCIM) weigh 0 here:
// the baseline is benign, and they come from planted scenarios (Options.
// Scenarios) at a realistic rate instead of hundreds a day. Members joining
// and leaving are rare, and concern a few newcomers and leavers only
// (population.joiners, leavers), never the members scenarios export with.

type actorKind int

const (
	actorAdmin  actorKind = iota // an owner or administrator (or an MSP technician)
	actorMember                  // any member; sometimes a service account for writes
	actorSelf                    // a member acting on their own user object
	actorSCIM                    // the provisioning bridge
)

type objectKind int

const (
	objNone    objectKind = iota // object_uuid ""
	objUser                      // another member, with object_details
	objSelf                      // the actor, with object_details
	objVault                     // a vault (lower-case)
	objGroup                     // a group (lower-case)
	objDevice                    // a device of the actor or a member (lower-case)
	objItem                      // an item (lower-case)
	objAccount                   // the account itself
	objService                   // a service account (no details)
	objUpper                     // some other entity, upper-case id
	objLower                     // some other entity, lower-case id
)

type auxKind int

const (
	auxNone    auxKind = iota
	auxSession         // aux_uuid = the session (delegated sessions)
	auxMember          // group membership: aux_id, aux_uuid, aux_details, aux_info R|A
	auxUser            // aux_uuid and aux_details of a member
	auxOwner           // aux_uuid and aux_details of the device's owner
	auxGroup           // aux_uuid = a group
	auxPatch           // aux_id = item count, aux_info = "1,0,0,0,0"-style
	auxCount           // aux_id = item count
	auxReport          // aux_info = report name
	auxSAType          // aux_info = "D"
	auxToken           // aux_info = token name
	auxEmail           // aux_info = invitee e-mail
	auxDomain          // aux_info = domain
	auxCompany         // aux_info = managed company name
)

type auditKind struct {
	objectType, action string
	weight             int
	actor              actorKind
	object             objectKind
	aux                auxKind
}

func auditCatalogue() []auditKind {
	return []auditKind{
		{"dlgdsess", "dlgsess", 4000, actorMember, objUpper, auxSession},
		{"items", "patch", 1500, actorMember, objVault, auxPatch},
		{"items", "delete", 80, actorMember, objVault, auxCount},
		{"items", "purge", 30, actorAdmin, objVault, auxCount},
		{"itemhist", "purge", 20, actorAdmin, objVault, auxCount},
		{"item", "share", 120, actorMember, objItem, auxNone},
		{"item", "delshare", 40, actorMember, objItem, auxNone},
		{"report", "view", 250, actorAdmin, objNone, auxReport},
		{"report", "export", 60, actorAdmin, objNone, auxReport},
		{"file", "create", 200, actorMember, objLower, auxNone},
		{"device", "create", 300, actorSelf, objDevice, auxOwner},
		{"device", "update", 150, actorSelf, objDevice, auxOwner},
		{"device", "delete", 60, actorAdmin, objDevice, auxOwner},
		{"device", "reauth", 60, actorAdmin, objDevice, auxOwner},
		{"ssotkn", "ssotknv", 200, actorMember, objUpper, auxUser},
		{"sa", "create", 0, actorAdmin, objService, auxSAType},
		{"sa", "expire", 0, actorAdmin, objService, auxNone},
		{"satoken", "create", 0, actorAdmin, objService, auxToken},
		{"satoken", "trename", 0, actorAdmin, objService, auxToken},
		{"satoken", "tverify", 20, actorAdmin, objService, auxToken},
		{"satoken", "trevoke", 0, actorAdmin, objService, auxToken},
		{"user", "join", 8, actorSelf, objSelf, auxNone},
		{"user", "verify", 4, actorSelf, objSelf, auxNone},
		{"user", "activate", 6, actorAdmin, objUser, auxNone},
		{"user", "reactive", 2, actorAdmin, objUser, auxNone},
		{"user", "suspend", 4, actorAdmin, objUser, auxNone},
		{"user", "delete", 2, actorAdmin, objUser, auxNone},
		{"user", "provsn", 6, actorSCIM, objUser, auxNone},
		{"user", "sendts", 4, actorSCIM, objUser, auxNone},
		{"user", "resendts", 2, actorAdmin, objUser, auxNone},
		{"user", "upguest", 10, actorAdmin, objUser, auxNone},
		{"user", "beginr", 15, actorAdmin, objUser, auxNone},
		{"user", "completr", 12, actorAdmin, objUser, auxNone},
		{"user", "cancelr", 3, actorAdmin, objUser, auxNone},
		{"user", "deolddev", 10, actorSelf, objSelf, auxNone},
		{"user", "dealldev", 5, actorAdmin, objUser, auxNone},
		{"user", "enblmfa", 40, actorSelf, objSelf, auxNone},
		{"user", "updatmfa", 20, actorSelf, objSelf, auxNone},
		{"user", "disblmfa", 0, actorAdmin, objUser, auxNone},
		{"user", "sendpkg", 10, actorMember, objUser, auxNone},
		{"user", "trvlaway", 15, actorSelf, objSelf, auxNone},
		{"user", "trvlback", 15, actorSelf, objSelf, auxNone},
		{"user", "changeks", 5, actorSelf, objSelf, auxNone},
		{"user", "changemp", 30, actorSelf, objSelf, auxNone},
		{"user", "changesk", 5, actorSelf, objSelf, auxNone},
		{"user", "changenm", 10, actorSelf, objSelf, auxNone},
		{"user", "changela", 5, actorSelf, objSelf, auxNone},
		{"user", "tdvcsso", 15, actorSelf, objSelf, auxNone},
		{"user", "sdvcsso", 10, actorSelf, objSelf, auxNone},
		{"ec", "begin", 8, actorMember, objUpper, auxUser},
		{"ec", "complete", 8, actorMember, objUpper, auxUser},
		{"ec", "propose", 4, actorAdmin, objUpper, auxUser},
		{"famchild", "rdmchild", 5, actorMember, objUpper, auxNone},
		{"famchild", "detchild", 2, actorMember, objUpper, auxNone},
		{"group", "create", 15, actorAdmin, objGroup, auxNone},
		{"group", "update", 15, actorAdmin, objGroup, auxNone},
		{"group", "delete", 5, actorAdmin, objGroup, auxNone},
		{"group", "purge", 3, actorAdmin, objGroup, auxNone},
		{"group", "changeks", 2, actorAdmin, objGroup, auxNone},
		{"gm", "join", 120, actorAdmin, objGroup, auxMember},
		{"gm", "leave", 40, actorAdmin, objGroup, auxMember},
		{"gm", "role", 20, actorAdmin, objGroup, auxMember},
		{"gva", "grant", 0, actorAdmin, objVault, auxGroup},
		{"gva", "revoke", 15, actorAdmin, objVault, auxGroup},
		{"gva", "update", 20, actorAdmin, objVault, auxGroup},
		{"uva", "grant", 90, actorAdmin, objVault, auxUser},
		{"uva", "revoke", 30, actorAdmin, objVault, auxUser},
		{"uva", "update", 30, actorAdmin, objVault, auxUser},
		{"invite", "create", 0, actorAdmin, objUpper, auxEmail},
		{"invite", "update", 10, actorAdmin, objUpper, auxEmail},
		{"invite", "prsndall", 3, actorAdmin, objNone, auxNone},
		{"vault", "create", 30, actorMember, objVault, auxNone},
		{"vault", "update", 25, actorAdmin, objVault, auxNone},
		{"vault", "updatea", 20, actorAdmin, objVault, auxNone},
		{"vault", "delete", 8, actorAdmin, objVault, auxNone},
		{"vault", "purge", 4, actorAdmin, objVault, auxNone},
		{"vault", "export", 0, actorMember, objVault, auxNone},
		{"vaultkey", "replace", 3, actorAdmin, objVault, auxNone},
		{"account", "activate", 2, actorAdmin, objAccount, auxNone},
		{"account", "update", 10, actorAdmin, objAccount, auxNone},
		{"account", "convert", 1, actorAdmin, objAccount, auxNone},
		{"account", "delete", 1, actorAdmin, objAccount, auxNone},
		{"account", "enblduo", 0, actorAdmin, objAccount, auxNone},
		{"account", "updatduo", 0, actorAdmin, objAccount, auxNone},
		{"account", "disblduo", 0, actorAdmin, objAccount, auxNone},
		{"account", "updatfw", 0, actorAdmin, objAccount, auxNone},
		{"account", "uisas", 0, actorAdmin, objAccount, auxNone},
		{"account", "disblmfa", 0, actorAdmin, objAccount, auxNone},
		{"account", "vrfydmn", 3, actorAdmin, objAccount, auxDomain},
		{"account", "uvrfydmn", 1, actorAdmin, objAccount, auxDomain},
		{"account", "dvrfydmn", 1, actorAdmin, objAccount, auxDomain},
		{"account", "unknown", 2, actorAdmin, objAccount, auxNone},
		{"sso", "enblsso", 0, actorAdmin, objUpper, auxNone},
		{"sso", "disblsso", 0, actorAdmin, objUpper, auxNone},
		{"sso", "chngpsso", 0, actorAdmin, objUpper, auxNone},
		{"sso", "chngasso", 0, actorAdmin, objUpper, auxNone},
		{"sso", "chngdsso", 0, actorAdmin, objUpper, auxNone},
		{"sso", "addgsso", 0, actorAdmin, objUpper, auxGroup},
		{"sso", "delgsso", 0, actorAdmin, objUpper, auxGroup},
		{"slackapp", "create", 2, actorAdmin, objUpper, auxNone},
		{"slackapp", "update", 2, actorAdmin, objUpper, auxNone},
		{"slackapp", "delete", 1, actorAdmin, objUpper, auxNone},
		{"card", "create", 1, actorAdmin, objUpper, auxNone},
		{"card", "update", 2, actorAdmin, objUpper, auxNone},
		{"card", "delete", 1, actorAdmin, objUpper, auxNone},
		{"pm", "create", 1, actorAdmin, objUpper, auxNone},
		{"pm", "delete", 1, actorAdmin, objUpper, auxNone},
		{"sub", "create", 1, actorAdmin, objUpper, auxNone},
		{"sub", "update", 2, actorAdmin, objUpper, auxNone},
		{"sub", "cancel", 1, actorAdmin, objUpper, auxNone},
		{"template", "create", 3, actorAdmin, objLower, auxNone},
		{"template", "update", 3, actorAdmin, objLower, auxNone},
		{"template", "hide", 1, actorAdmin, objLower, auxNone},
		{"template", "unhide", 1, actorAdmin, objLower, auxNone},
		{"template", "delete", 1, actorAdmin, objLower, auxNone},
		{"miguser", "create", 2, actorAdmin, objUpper, auxUser},
		{"miguser", "musercom", 2, actorAdmin, objUpper, auxUser},
		{"miguser", "muserdec", 1, actorAdmin, objUpper, auxUser},
		{"cred", "create", 30, actorSelf, objLower, auxUser},
		{"cred", "delete", 8, actorSelf, objLower, auxUser},
		{"mngdacc", "create", 2, actorAdmin, objUpper, auxCompany},
		{"mngdacc", "launchi", 6, actorAdmin, objUpper, auxCompany},
		{"mngdacc", "unlink", 1, actorAdmin, objUpper, auxCompany},
	}
}

// signInOutcome is a category/type pair and its weight per 10,000 sign-ins.
type signInOutcome struct {
	category, typ string
	weight        int
}

func signInOutcomes() []signInOutcome {
	return []signInOutcome{
		{"success", "credentials_ok", 5400},
		{"success", "mfa_ok", 2600},
		{"success", "federated", 300},
		{"credentials_failed", "password_secret_bad", 800},
		{"mfa_failed", "mfa_missing", 20},
		{"mfa_failed", "totp_bad", 45},
		{"mfa_failed", "totp_timeout", 15},
		{"mfa_failed", "totp_disabled", 5},
		{"mfa_failed", "u2f_bad", 10},
		{"mfa_failed", "u2f_timeout", 10},
		{"mfa_failed", "u2f_disabled", 5},
		{"mfa_failed", "duo_bad", 10},
		{"mfa_failed", "duo_timeout", 10},
		{"mfa_failed", "duo_disabled", 3},
		{"mfa_failed", "duo_native_bad", 5},
		{"mfa_failed", "platform_secret_bad", 5},
		{"mfa_failed", "platform_secret_disabled", 3},
		{"mfa_failed", "platform_secret_proxy", 3},
		{"mfa_failed", "code_bad", 10},
		{"mfa_failed", "code_timeout", 5},
		{"mfa_failed", "code_disabled", 3},
		{"sso_failed", "service_account_sso_denied", 20},
		{"sso_failed", "non_sso_user", 40},
		{"sso_failed", "sso_user_mismatch", 20},
		{"modern_version_failed", "modern_version_missing", 40},
		{"modern_version_failed", "modern_version_old", 60},
		{"firewall_failed", "continent_blocked", 60},
		{"firewall_failed", "country_blocked", 60},
		{"firewall_failed", "ip_blocked", 40},
		{"firewall_failed", "anonymous_blocked", 30},
		{"firewall_failed", "all_blocked", 10},
		{"firewall_reported_success", "country_blocked", 40},
		{"firewall_reported_success", "continent_blocked", 20},
		{"firewall_reported_success", "ip_blocked", 20},
	}
}

// itemActions are the 11 item usage actions with weights for members; service
// accounts only do server-side operations.
func itemActions() ([]string, []int) {
	return []string{"fill", "secure-copy", "reveal", "server-fetch", "enter-item-edit-mode",
			"select-sso-provider", "server-update", "server-create", "other", "share", "export"},
		[]int{3500, 2000, 1500, 1200, 600, 300, 300, 200, 200, 100, 0} // export: planted only
}

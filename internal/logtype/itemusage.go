package logtype

// ItemUsage is OnePassword.ItemUsage: the itemusages endpoint.
func ItemUsage() *LogType {
	return newLogType(LogType{
		Name:         "OnePassword.ItemUsage",
		Table:        "onepassword_itemusage",
		Feature:      "itemusages",
		Description:  "Each use of an item stored in a shared vault of a 1Password account: filled, revealed, copied, edited, shared, exported, or read through the CLI, an SDK or Connect.",
		ReferenceURL: "https://support.1password.com/events-api-reference/#item-usage",
		Fields: []Field{
			uuidField("item usage"),
			timestampField("item was used"),
			{Name: "used_version", Type: BigInt, Description: "The version of the item that was used."},
			{Name: "vault_uuid", Type: String, Description: "The UUID of the vault the item is in."},
			{Name: "item_uuid", Type: String, Description: "The UUID of the item that was used."},
			{Name: "user", Type: Object, Description: "The user who used the item.", Fields: userFields("the user who used the item")},
			{Name: "client", Type: Object, Description: "The 1Password app the item was used from.", Fields: clientFields()},
			locationField("1.2.0"),
			{Name: "action", Type: String, Since: "1.2.0", Description: "What was done with the item: enter-item-edit-mode, export, fill, other, reveal, secure-copy, select-sso-provider, server-create, server-fetch, server-update or share. Apps older than 1Password 8.4.0 report other; Events API 1.0.0 declared the field without values."},
			{Name: "account_uuid", Type: String, Since: "v2", Description: "The UUID of the account where the item was used (documented for MSP accounts)."},
		},
	})
}

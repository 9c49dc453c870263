package logtype

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestIndicators(t *testing.T) {
	const head = `{"uuid":"U1","timestamp":"2025-01-02T03:04:05Z",`
	tests := []struct {
		name        string
		lt          *LogType
		body        string // after head
		ips, emails []string
	}{
		{name: "trimmed", lt: SignInAttempt(),
			body: `"target_user":{"email":"  ada@example.com\t"},"client":{"ip_address":" 203.0.113.7\n"}}`,
			ips:  []string{"203.0.113.7"}, emails: []string{"ada@example.com"}},
		{name: "de-duplicated", lt: AuditEvent(),
			body:   `"actor_details":{"email":"ada@example.com"},"object_details":{"email":"ada@example.com"},"aux_details":{"email":" ada@example.com"}}`,
			emails: []string{"ada@example.com"}},
		{name: "sorted", lt: AuditEvent(),
			body:   `"actor_details":{"email":"zed@example.com"},"object_details":{"email":"amy@example.com"},"aux_details":{"email":"Bob@example.com"}}`,
			emails: []string{"Bob@example.com", "amy@example.com", "zed@example.com"}},
		{name: "emails without @ dropped", lt: AuditEvent(),
			body: `"actor_details":{"email":"ada"},"object_details":{"email":"   "},"aux_details":{"email":""}}`},
		{name: "invalid IPs dropped", lt: SignInAttempt(),
			body: `"client":{"ip_address":"1.1.1.1.1"}}`},
		{name: "IP with zone dropped, as net.ParseIP does", lt: AuditEvent(),
			body: `"session":{"ip":"fe80::1%eth0"}}`},
		{name: "IP with leading zeros dropped", lt: AuditEvent(),
			body: `"session":{"ip":"192.0.02.1"}}`},
		{name: "IPv6 kept as written", lt: AuditEvent(),
			body: `"session":{"ip":"2001:0DB8:0000::1"}}`, ips: []string{"2001:0DB8:0000::1"}},
		{name: "IPv4-mapped IPv6", lt: ItemUsage(),
			body: `"client":{"ip_address":"::ffff:192.0.2.1"}}`, ips: []string{"::ffff:192.0.2.1"}},
		{name: "host names are not IPs", lt: ItemUsage(),
			body: `"client":{"ip_address":"example.com"}}`},
		{name: "only indicator fields count", lt: ItemUsage(),
			body: `"client":{"os_name":"1.2.3.4"},"user":{"name":"x@y"},"extra":{"email":"a@b","ip_address":"1.2.3.4"}}`},
		{name: "email at every indicator field of item usage", lt: ItemUsage(),
			body: `"user":{"email":"ada@example.com"},"client":{"ip_address":"198.51.100.1"}}`,
			ips:  []string{"198.51.100.1"}, emails: []string{"ada@example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := tt.lt.Parse([]byte(head + tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.ips, ev.IPs); diff != "" {
				t.Errorf("IPs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.emails, ev.Emails); diff != "" {
				t.Errorf("Emails (-want +got):\n%s", diff)
			}
			// Absent means nil, so that the p_any_ columns are left out.
			if len(ev.IPs) == 0 && ev.IPs != nil || len(ev.Emails) == 0 && ev.Emails != nil {
				t.Errorf("empty indicator lists must be nil: %#v %#v", ev.IPs, ev.Emails)
			}
		})
	}
}

// The two lists share one backing array; appending to one must not
// overwrite the other.
func TestIndicatorListsIndependent(t *testing.T) {
	ev, err := AuditEvent().Parse([]byte(auditV1))
	if err != nil {
		t.Fatal(err)
	}
	_ = append(ev.Emails, "x@y")
	if diff := cmp.Diff([]string{"192.0.2.254"}, ev.IPs); diff != "" {
		t.Errorf("IPs changed by an append to Emails (-want +got):\n%s", diff)
	}
}

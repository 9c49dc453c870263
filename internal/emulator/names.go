package emulator

// Static tables the synthetic population is drawn from. They are read-only.

var firstNames = []string{
	"Wendy", "Peter", "Bruce", "Diana", "Clark", "Natasha", "Tony", "Carol", "Steve", "Wanda",
	"Amara", "Chen", "Priya", "Mateo", "Aisha", "Liam", "Sofia", "Noah", "Yuki", "Olga",
	"José", "Zoë", "Søren", "Łukasz", "Renée", "Chloé", "Björn", "Ngozi", "Rahul", "Fatima",
	"Hannah", "Omar", "Grace", "Ivan", "Mei", "Kofi", "Elena", "Tariq", "Ingrid", "Diego",
	"Ava", "Lucas", "Mia", "Ethan", "Leila", "Kenji", "Sara", "Hugo", "Nadia", "Felix",
}

var lastNames = []string{
	"Appleseed", "Parker", "Wayne", "Prince", "Kent", "Romanoff", "Stark", "Danvers", "Rogers", "Maximoff",
	"Okafor", "Wei", "Sharma", "García", "Khan", "O'Brien", "Rossi", "Smith", "Tanaka", "Petrova",
	"Müller", "Jensen", "Kowalski", "Dubois", "Nakamura", "Lindqvist", "Adeyemi", "Patel", "Haddad", "Nguyen",
	"Schmidt", "Costa", "Brown", "Novak", "Lopez", "Mensah", "Fischer", "Ali", "Larsen", "Moreno",
}

var domains = []string{
	"acme.com", "initech.com", "globex.com", "hooli.com", "umbrella-corp.com",
	"wayne-enterprises.com", "stark-industries.com", "piedpiper.com", "cyberdyne.com", "soylent.com",
}

var serviceAccountNames = []string{
	"ci-deploy", "terraform", "k8s-secrets-sync", "backup-runner", "github-actions", "ansible", "vault-migrator", "monitoring",
}

var tokenNames = []string{"Test", "Test1", "prod", "staging", "ci", "deploy-2025", "read-only", "rotation"}

var reportNames = []string{"activity-log", "activity-log", "activity-log", "team-usage", "domain-breach", "vault-access"}

var companyNames = []string{"Northwind Traders", "Contoso Ltd", "Fabrikam Inc", "Tailspin Toys", "Adventure Works"}

// place is a city with what each event type says about it. ISO codes go in
// sign-in attempts' country fields, names in every location object except
// sign-ins' (see the reference, section 4).
type place struct {
	country, iso, continent, region, city string
	lat, lon                              float64
	octets                                []byte // first IPv4 octets of addresses there
	v6                                    string // an IPv6 /32 used there, without trailing ":"
}

// offices are where the synthetic companies' people work and travel.
var offices = []place{
	{"United States", "US", "North America", "Oregon", "Portland", 45.4085, -122.7981, []byte{24, 50, 71, 73}, "2600:1700"},
	{"United States", "US", "North America", "Colorado", "Thornton", 39.8662, -104.9755, []byte{67, 75, 98}, "2601:280"},
	{"United States", "US", "North America", "New York", "New York", 40.7128, -74.006, []byte{68, 69, 108}, "2603:7000"},
	{"United States", "US", "North America", "California", "San Francisco", 37.7749, -122.4194, []byte{67, 104, 107}, "2601:646"},
	{"United States", "US", "North America", "Texas", "Austin", 30.2672, -97.7431, []byte{70, 72, 99}, "2600:6c54"},
	{"United States", "US", "North America", "Virginia", "Ashburn", 39.0438, -77.4874, []byte{3, 34, 52, 54}, "2600:1f18"},
	{"Canada", "CA", "North America", "Ontario", "Toronto", 43.6532, -79.3832, []byte{99, 142, 174}, "2607:fea8"},
	{"Canada", "CA", "North America", "Quebec", "Montreal", 45.5019, -73.5674, []byte{70, 184, 207}, "2607:fa48"},
	{"United Kingdom", "GB", "Europe", "England", "London", 51.5072, -0.1276, []byte{81, 86, 90}, "2a00:23c5"},
	{"Germany", "DE", "Europe", "Berlin", "Berlin", 52.52, 13.405, []byte{77, 87, 91}, "2003:e7"},
	{"Netherlands", "NL", "Europe", "North Holland", "Amsterdam", 52.3676, 4.9041, []byte{62, 84, 145}, "2a02:a44"},
	{"France", "FR", "Europe", "Île-de-France", "Paris", 48.8566, 2.3522, []byte{78, 82, 90}, "2a01:cb00"},
	{"Ireland", "IE", "Europe", "Leinster", "Dublin", 53.3498, -6.2603, []byte{37, 79, 86}, "2a02:8084"},
	{"Israel", "IL", "Asia", "Tel Aviv", "Tel Aviv", 32.0853, 34.7818, []byte{31, 79, 109}, "2a06:c701"},
	{"India", "IN", "Asia", "Karnataka", "Bengaluru", 12.9716, 77.5946, []byte{49, 103, 106}, "2401:4900"},
	{"Japan", "JP", "Asia", "Tokyo", "Tokyo", 35.6762, 139.6503, []byte{60, 126, 153}, "2400:4050"},
	{"Australia", "AU", "Oceania", "New South Wales", "Sydney", -33.8688, 151.2093, []byte{1, 101, 124}, "2001:8003"},
	{"Brazil", "BR", "South America", "São Paulo", "São Paulo", -23.5505, -46.6333, []byte{177, 179, 189}, "2804:14c"},
	{"Argentina", "AR", "South America", "Buenos Aires", "Buenos Aires", -34.6037, -58.3816, []byte{181, 186, 190}, "2800:810"},
}

// elsewhere are places no employee is: the origin of most failed sign-ins.
var elsewhere = []place{
	{"Russia", "RU", "Europe", "Moscow", "Moscow", 55.7558, 37.6173, []byte{5, 46, 95}, "2a00:1370"},
	{"Nigeria", "NG", "Africa", "Lagos", "Lagos", 6.5244, 3.3792, []byte{102, 105, 197}, "2c0f:f5c0"},
	{"Romania", "RO", "Europe", "Bucharest", "Bucharest", 44.4268, 26.1025, []byte{5, 86, 188}, "2a02:2f0c"},
	{"China", "CN", "Asia", "Guangdong", "Shenzhen", 22.5431, 114.0579, []byte{14, 58, 113}, "240e:3b0"},
	{"Vietnam", "VN", "Asia", "Hanoi", "Hanoi", 21.0278, 105.8342, []byte{14, 113, 171}, "2405:4800"},
	{"Iran", "IR", "Asia", "Tehran", "Tehran", 35.6892, 51.389, []byte{5, 31, 37}, "2a01:5ec0"},
	{"North Korea", "KP", "Asia", "Pyongyang", "Pyongyang", 39.0392, 125.7625, []byte{175}, "2a05:7c0"},
}

// secondPlaces are other cities of the offices' countries: a member's
// second place (a family home, a satellite office), where they sometimes
// spend days. Addresses there come from the country's ISPs.
var secondPlaces = []place{
	{"United States", "US", "North America", "Washington", "Seattle", 47.6062, -122.3321, []byte{24, 50, 73}, "2601:600"},
	{"United States", "US", "North America", "Illinois", "Chicago", 41.8781, -87.6298, []byte{67, 73, 98}, "2601:240"},
	{"Canada", "CA", "North America", "British Columbia", "Vancouver", 49.2827, -123.1207, []byte{24, 70, 154}, "2001:569"},
	{"United Kingdom", "GB", "Europe", "England", "Manchester", 53.4808, -2.2426, []byte{81, 86, 90}, "2a00:23c5"},
	{"United Kingdom", "GB", "Europe", "Scotland", "Edinburgh", 55.9533, -3.1883, []byte{81, 86, 90}, "2a00:23c5"},
	{"Germany", "DE", "Europe", "Bavaria", "Munich", 48.1351, 11.582, []byte{77, 87, 91}, "2003:e7"},
	{"Germany", "DE", "Europe", "Hamburg", "Hamburg", 53.5511, 9.9937, []byte{77, 87, 91}, "2003:e7"},
	{"Netherlands", "NL", "Europe", "South Holland", "Rotterdam", 51.9244, 4.4777, []byte{62, 84, 145}, "2a02:a44"},
	{"France", "FR", "Europe", "Auvergne-Rhône-Alpes", "Lyon", 45.764, 4.8357, []byte{78, 82, 90}, "2a01:cb00"},
	{"Ireland", "IE", "Europe", "Munster", "Cork", 51.8985, -8.4756, []byte{37, 79, 86}, "2a02:8084"},
	{"Israel", "IL", "Asia", "Haifa", "Haifa", 32.794, 34.9896, []byte{31, 79, 109}, "2a06:c701"},
	{"India", "IN", "Asia", "Maharashtra", "Mumbai", 19.076, 72.8777, []byte{49, 103, 106}, "2401:4900"},
	{"India", "IN", "Asia", "Telangana", "Hyderabad", 17.385, 78.4867, []byte{49, 103, 106}, "2401:4900"},
	{"Japan", "JP", "Asia", "Osaka", "Osaka", 34.6937, 135.5023, []byte{60, 126, 153}, "2400:4050"},
	{"Australia", "AU", "Oceania", "Victoria", "Melbourne", -37.8136, 144.9631, []byte{1, 101, 124}, "2001:8003"},
	{"Brazil", "BR", "South America", "Rio de Janeiro", "Rio de Janeiro", -22.9068, -43.1729, []byte{177, 179, 189}, "2804:14c"},
	{"Argentina", "AR", "South America", "Córdoba", "Córdoba", -31.4201, -64.1888, []byte{181, 186, 190}, "2800:810"},
}

// clientKind is what sort of device a client runs on.
type clientKind int

const (
	kindDesktop clientKind = iota
	kindBrowser
	kindMobile
	kindCLI
	kindSDK
	kindSCIM
)

// appVersions are plausible numeric build strings per app, as the API sends
// them ("81036022" is 8.10.36, build 22).
var appVersions = map[string][]string{
	"1Password Browser Extension": {"20195", "81036002", "81040007", "81042012"},
	"1Password for Mac":           {"81036022", "81040016", "81042028", "70902005"},
	"1Password for Windows":       {"81036022", "81040016", "81042028"},
	"1Password for Linux":         {"81036022", "81040016"},
	"1Password for iOS":           {"81036002", "81040004", "81042010"},
	"1Password for Android":       {"81036023", "81040005", "81042011"},
	"1Password for Web":           {"2052", "2090", "2113"},
	"1Password CLI":               {"2290002", "2300101", "2310001"},
	"1Password SDK":               {"0010301", "0020001", "0030102"},
	"1Password SCIM Bridge":       {"20906", "21002"},
}

type browser struct{ name, version string }

var browsers = []browser{
	{"Chrome", "131.0.6778.86"}, {"Chrome", "126.0.6478.127"}, {"Chrome", "93.0.4577.62"},
	{"Firefox extension", "133.0"}, {"Firefox extension", "128.0.3"},
	{"Edge", "131.0.2903.70"}, {"Safari", "18.1.1"}, {"Brave", "1.73.91"},
}

type osInfo struct{ name, version string }

var (
	macOS     = []osInfo{{"MacOSX", "15.1.1"}, {"MacOSX", "14.5"}, {"MacOSX", "13.6.7"}, {"MacOSX", "10.15.7"}}
	windowsOS = []osInfo{{"Windows", "10.0.22631"}, {"Windows", "10.0.19045"}, {"Windows", "10.0"}}
	linuxOS   = []osInfo{{"Linux", "6.8.0-45-generic"}, {"Linux", "6.1.0-26-amd64"}}
	iOS       = []osInfo{{"iOS", "18.1.1"}, {"iOS", "17.5.1"}}
	androidOS = []osInfo{{"Android", "15"}, {"Android", "14"}, {"Android", "13"}}
)

var (
	macModels     = []string{"MacBookPro18,3", "Mac14,2", "MacBookAir10,1", "MacBookPro16,1", "Mac15,6"}
	windowsModels = []string{"Dell Inc. Latitude 7440", "LENOVO 21HM", "HP EliteBook 840 G8", "Microsoft Surface Laptop 5"}
	linuxModels   = []string{"LENOVO ThinkPad X1 Carbon Gen 11", "Framework Laptop 13", "Dell Inc. XPS 13 9310"}
	iPhones       = []string{"iPhone15,2", "iPhone16,1", "iPhone14,5", "iPad13,4"}
	androids      = []browser{{"Pixel 8", "Google Pixel 8"}, {"SM-S918B", "samsung SM-S918B"}, {"Pixel 7a", "Google Pixel 7a"}}
	sdkRuntimes   = []browser{{"Go", "go1.23.2"}, {"Python", "3.12.4"}, {"JavaScript", "node 20.17.0"}}
	cpus          = []string{"amd64", "arm64"}
)

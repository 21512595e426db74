package sim

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// NotFoundPrefix marks queries the simulator has no data for: any query
// starting with it (case-insensitively) gets 404. A prefix rather than one
// magic value so every indicator type has a not-found form:
// "notfound-alice", "notfound@example.com", "notfound.example.com".
const NotFoundPrefix = "notfound"

// ForbiddenPrefix marks queries the simulated plan does not cover: any
// query starting with it (case-insensitive) is answered 403 with a valid
// key, as vendors answer a plan-limited resource. A 403 about the resource
// must not cost the gateway its key.
const ForbiddenPrefix = "restricted"

// validTypes are the values accepted in the type parameter; anything else is 400.
var validTypes = []string{"auto", "email", "phone", "username", "domain", "ipv4", "ipv6", "url", "md5", "sha1", "sha256"}

// Result is the simulated answer. Field order is the JSON order, fixed so
// that the same query always yields the same bytes.
type Result struct {
	Query        string    `json:"query"`
	Type         string    `json:"type"`
	DetectedType string    `json:"detected_type"`
	Profiles     []Profile `json:"profiles"`
	Breaches     []Breach  `json:"breaches"`
	RiskScore    int       `json:"risk_score"`
	FirstSeen    string    `json:"first_seen"`
	LastSeen     string    `json:"last_seen"`
	Sources      int       `json:"sources"`
}

// Profile is one account the query is linked to.
type Profile struct {
	Platform    string  `json:"platform"`
	Username    string  `json:"username"`
	URL         string  `json:"url"`
	DisplayName string  `json:"display_name"`
	Confidence  float64 `json:"confidence"`
}

// Breach is one data breach the query appears in.
type Breach struct {
	Name        string   `json:"name"`
	Date        string   `json:"date"`
	DataClasses []string `json:"data_classes"`
}

var platforms = []struct{ name, urlFmt string }{
	{"github", "https://github.com/%s"},
	{"gitlab", "https://gitlab.com/%s"},
	{"reddit", "https://www.reddit.com/user/%s"},
	{"mastodon", "https://mastodon.social/@%s"},
	{"x", "https://x.com/%s"},
	{"instagram", "https://www.instagram.com/%s"},
	{"keybase", "https://keybase.io/%s"},
	{"hackernews", "https://news.ycombinator.com/user?id=%s"},
	{"telegram", "https://t.me/%s"},
	{"medium", "https://medium.com/@%s"},
}

var breachNames = []string{
	"Collection1", "SocialScrape", "DesignToolLeak", "ComboList", "ForumDump",
	"GameHub", "StealerLogs", "RetailCo", "DatingSite", "CloudNotes",
}

var dataClasses = []string{"email", "password_hash", "username", "ip_address", "phone", "name", "date_of_birth", "address"}

var firstNames = []string{"Alex", "Sam", "Jordan", "Robin", "Kim", "Noor", "Mika", "Ana", "Lee", "Yuki"}
var lastNames = []string{"Novak", "Haddad", "Silva", "Berg", "Okafor", "Moreau", "Tanaka", "Kowalski", "Reyes", "Larsen"}

// epoch anchors the generated dates: bodies must not depend on today.
var epoch = time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC)

// resolveBody returns the deterministic JSON for (query, type). The content
// is seeded by SHA-256 of the query alone, so asking for the same query with
// a different type changes only the echoed type fields.
func resolveBody(query, typ string) []byte {
	// ChaCha8's output is specified, and pick/perm are ours, so bodies stay
	// byte-identical across Go releases (rand.Rand's helpers may change).
	r := rand.NewChaCha8(sha256.Sum256([]byte(query)))
	pick := func(n int) int { return int(r.Uint64() % uint64(n)) }
	perm := func(n int) []int {
		p := make([]int, n)
		for i := range p {
			p[i] = i
		}
		for i := n - 1; i > 0; i-- {
			j := pick(i + 1)
			p[i], p[j] = p[j], p[i]
		}
		return p
	}

	res := Result{Query: query, Type: typ, DetectedType: typ, Breaches: []Breach{}}
	if typ == "auto" {
		res.DetectedType = detectType(query)
	}
	// One identity per query: a display name, and a handle taken from the
	// query when it names an account, else made up from the display name.
	first, last := firstNames[pick(len(firstNames))], lastNames[pick(len(lastNames))]
	handle := strings.ToLower(first + "." + last)
	if d := res.DetectedType; d == "email" || d == "username" {
		handle = handleFor(query)
	}
	for _, i := range perm(len(platforms))[:1+pick(5)] {
		p := platforms[i]
		name := handle
		if pick(3) == 0 {
			name = fmt.Sprintf("%s%d", handle, 1+pick(99))
		}
		res.Profiles = append(res.Profiles, Profile{
			Platform:    p.name,
			Username:    name,
			URL:         fmt.Sprintf(p.urlFmt, url.PathEscape(name)),
			DisplayName: first + " " + last,
			Confidence:  float64(50+pick(50)) / 100,
		})
	}
	for _, i := range perm(len(breachNames))[:pick(4)] {
		classes := []string{}
		for _, j := range perm(len(dataClasses))[:1+pick(4)] {
			classes = append(classes, dataClasses[j])
		}
		res.Breaches = append(res.Breaches, Breach{
			Name:        breachNames[i],
			Date:        epoch.AddDate(0, 0, pick(3650)).Format(time.DateOnly),
			DataClasses: classes,
		})
	}
	seen := epoch.Add(time.Duration(pick(8*365*24)) * time.Hour)
	res.FirstSeen = seen.Format(time.RFC3339)
	res.LastSeen = seen.Add(time.Duration(pick(3*365*24)) * time.Hour).Format(time.RFC3339)
	res.RiskScore = min(100, 10*len(res.Breaches)+pick(70))
	res.Sources = len(res.Profiles) + len(res.Breaches) + pick(5)

	b, err := json.Marshal(res)
	if err != nil { // only strings, numbers and slices: cannot happen
		panic(fmt.Sprintf("sim: encoding result: %v", err))
	}
	return b
}

var nonHandle = regexp.MustCompile(`[^a-z0-9._-]+`)

// handleFor derives a plausible username from any query.
func handleFor(query string) string {
	q := strings.ToLower(query)
	if at := strings.IndexByte(q, '@'); at > 0 {
		q = q[:at]
	}
	h := strings.Trim(nonHandle.ReplaceAllString(q, ""), "._-")
	if len(h) > 30 {
		h = h[:30]
	}
	if h == "" {
		h = "user"
	}
	return h
}

var (
	reHex    = regexp.MustCompile(`^[0-9a-fA-F]+$`)
	rePhone  = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	reDomain = regexp.MustCompile(`^([a-zA-Z0-9-]+\.)+[a-zA-Z]{2,}$`)
)

// detectType is a rough guess for type=auto. It is the simulator's own
// model, independent of the gateway's detector on purpose.
func detectType(q string) string {
	switch {
	case strings.HasPrefix(q, "http://") || strings.HasPrefix(q, "https://"):
		return "url"
	case strings.Contains(q, "@"):
		return "email"
	case rePhone.MatchString(q):
		return "phone"
	case net.ParseIP(q) != nil && strings.Contains(q, ":"):
		return "ipv6"
	case net.ParseIP(q) != nil:
		return "ipv4"
	case reHex.MatchString(q) && len(q) == 32:
		return "md5"
	case reHex.MatchString(q) && len(q) == 40:
		return "sha1"
	case reHex.MatchString(q) && len(q) == 64:
		return "sha256"
	case reDomain.MatchString(q):
		return "domain"
	default:
		return "username"
	}
}

package workflow

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/ilities/ilities/report"
)

// pageCSS is the comparison page's one style sheet, allowed by its hash.
const pageCSS = `body{font-family:sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:nth-child(2),td:nth-child(2){text-align:left}.pass{color:#1a7f37}.fail,.error{color:#c62828}
img{max-width:100%;display:block;margin:1em 0}code{font-size:90%}`

var pageTemplate = template.Must(template.New("compare").Funcs(template.FuncMap{
	"pct":  func(f float64) string { return fmt.Sprintf("%.3f%%", 100*f) },
	"secs": seconds,
	"f":    func(format string, v float64) string { return fmt.Sprintf(format, v) },
	"dataURI": func(png []byte) template.URL {
		return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{.CSP}}">
<title>Comparison by {{.C.By}}: {{.C.Scenario}}{{.Suffix}}</title><style>{{.CSS}}</style></head><body>
<h1>Comparison by {{.C.By}}: {{.C.Scenario}}{{.Suffix}}</h1>
<p>{{.Seeds}}; every variant ran the same arrivals and fault timeline. Ranking: <strong>{{.Ranking}}</strong>.<br>{{range .C.RankingNotes}}{{.}}<br>{{end}}{{.C.RankingRule}}.</p>
<table><tr><th>rank</th><th>{{.C.By}}</th><th>verdict</th><th>throughput</th><th>p50</th><th>p99</th><th>max</th><th>availability</th><th>detection</th><th>recovery</th><th>fairness</th><th>session loss</th></tr>
{{range .Rows}}<tr><td>{{.Rank}}</td><td>{{.Name}}</td><td class="{{.Verdict}}">{{.Verdict}}{{if .Error}}: {{.Error}}{{end}}</td>
<td>{{f "%.1f/s" .ThroughputRPS}}</td><td>{{f "%.2fms" .P50MS}}</td><td>{{f "%.2fms" .P99MS}}</td><td>{{f "%.1fms" .MaxMS}}</td>
<td>{{pct .Availability}}</td><td>{{secs .DetectionTimeS}}</td><td>{{secs .RecoveryTimeS}}</td><td>{{f "%.3f" .Fairness}}</td><td>{{.SessionLoss}}</td></tr>
{{end}}</table>
{{if gt .C.Repeat 1}}<p>Over {{.C.Repeat}} runs of each: median [95% confidence interval of the mean, Student's t]; the figures above are the medians.</p>
<table><tr><th>{{.C.By}}</th><th>passed</th><th>p99</th><th>throughput</th><th>error rate</th></tr>
{{range .Rows}}{{$name := .Name}}{{with .Repeated}}<tr><td>{{$name}}</td><td>{{.Passed}}/{{.Runs}}</td><td>{{f "%.2fms" .P99MS.Median}} [{{f "%.2f" .P99MS.Low}}, {{f "%.2f" .P99MS.High}}]</td>
<td>{{f "%.1f/s" .ThroughputRPS.Median}} [{{f "%.1f" .ThroughputRPS.Low}}, {{f "%.1f" .ThroughputRPS.High}}]</td><td>{{pct .ErrorRate.Median}} [{{pct .ErrorRate.Low}}, {{pct .ErrorRate.High}}]</td></tr>
{{end}}{{end}}</table>{{end}}
{{range .Rows}}{{if .DetectedBy}}<p>{{.Name}}: detection by {{.DetectedBy}}</p>{{end}}{{end}}
{{range .Figures}}<figure><img src="{{dataURI .PNG}}" alt="{{.Title}}"><figcaption>{{.Title}}</figcaption></figure>{{end}}
</body></html>
`))

// upperFirst is s with its first letter in upper case.
func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// WriteHTML writes the comparison as one self-contained page (charts as
// data: URIs, no script, a strict Content Security Policy).
func (c *Comparison) WriteHTML(w io.Writer, figs []report.Figure) error {
	sum := sha256.Sum256([]byte(pageCSS))
	csp := "default-src 'none'; img-src data:; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; base-uri 'none'; form-action 'none'"
	var rows []Row
	for _, name := range c.Ranking {
		rows = append(rows, *c.Row(name))
	}
	return pageTemplate.Execute(w, struct {
		C                      *Comparison
		Rows                   []Row
		Figures                []report.Figure
		CSP                    string
		CSS                    template.CSS
		Seeds, Ranking, Suffix string
	}{c, rows, figs, csp, template.CSS(pageCSS), upperFirst(c.seeds()), c.RankingLine(), simulatedSuffix(c.Mode)})
}

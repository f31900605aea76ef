package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The documentation cannot drift from the code: every shell example of
// README.md and of the dialect READMEs runs here, as printed and in order,
// against a fresh serve --demo, and each answer is checked against the
// answer printed after it.
//
// The examples follow a few conventions, which the README states:
//
//   - A ```sh block is run with bash; localhost:8080 is the server under
//     test, rfk_... the key serve --demo printed, and `refundry` the
//     command built from this tree.
//   - A ```json, ```http or ```csv block right after it is the answer it
//     gets: the test checks the status and the shape (the same fields of
//     the same JSON kinds, the same headers, the same CSV columns), not
//     the ids and times, which differ on every run.
//   - Every curl must answer 2xx.
//   - <!-- readme-test: NAME=path ... --> before a block names the
//     placeholders (words in capitals) the block's answer gives: NAME is
//     replaced in later blocks by the value at path (data.0.id) of that
//     answer, as the text tells a reader to do by hand.
//   - <!-- readme-test: skip (why) --> marks a block that cannot run here.
func TestREADMEExamples(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("the README examples need curl (apt-get install curl)")
	}
	bin := buildBinary(t)
	files := []string{"../../README.md"}
	dialects, err := filepath.Glob("../../dialect/*/README.md")
	if err != nil || len(dialects) != 5 {
		t.Fatalf("dialect READMEs: %v %v", dialects, err)
	}
	files = append(files, dialects...)
	for _, file := range files {
		name := strings.TrimPrefix(file, "../../")
		t.Run(name, func(t *testing.T) {
			blocks := readBlocks(t, file)
			dir := t.TempDir()
			_, base, stdout, _ := startServe(t, bin, "--db", "sqlite:"+filepath.Join(dir, "refundry.db"), "--demo")
			key := stdout.await(t, regexp.MustCompile(`REFUNDRY_KEY=(\S+)`))
			r := &readmeRun{t: t, file: name, bin: bin, base: base, key: key, dir: dir, values: map[string]string{}}
			ran := r.runAll(blocks)
			if ran == 0 {
				t.Fatalf("%s has no shell example", name)
			}
			if name == "README.md" {
				checkReadyzDocumented(t, base)
			}
		})
	}
}

// mdBlock is one fenced block of a Markdown file.
type mdBlock struct {
	info       string // the fence's info string: sh, json, ...
	body       string
	line, end  int    // lines of the opening and the closing fence
	annotation string // the readme-test comment before it, if any
}

var annotationLine = regexp.MustCompile(`^<!-- readme-test: (.*) -->$`)

func readBlocks(t *testing.T, path string) []mdBlock {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		blocks     []mdBlock
		cur        *mdBlock
		annotation string
		body       strings.Builder
	)
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &mdBlock{info: strings.TrimSpace(strings.TrimPrefix(line, "```")), line: n, annotation: annotation}
			annotation = ""
			body.Reset()
		case cur != nil && strings.TrimSpace(line) == "```":
			cur.body, cur.end = body.String(), n
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			body.WriteString(line + "\n")
		default:
			if m := annotationLine.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
				annotation = m[1]
			} else if strings.TrimSpace(line) != "" {
				annotation = "" // an annotation belongs to the block right after it
			}
		}
	}
	if cur != nil {
		t.Fatalf("%s:%d: a fenced block is never closed", path, cur.line)
	}
	return blocks
}

// readmeRun runs one file's examples against one server.
type readmeRun struct {
	t                   *testing.T
	file                string
	bin, base, key, dir string
	values              map[string]string // placeholders found so far
	calls               int               // curl calls made so far
}

// runAll runs every sh block in order and returns how many ran.
func (r *readmeRun) runAll(blocks []mdBlock) int {
	ran, skipped := 0, 0
	for i, b := range blocks {
		if b.info != "sh" {
			continue
		}
		where := fmt.Sprintf("%s:%d", r.file, b.line)
		if rest, ok := strings.CutPrefix(b.annotation, "skip"); ok {
			if !regexp.MustCompile(`^ \(.+\)$`).MatchString(rest) {
				r.t.Errorf("%s: a skipped example must say why: <!-- readme-test: skip (reason) -->", where)
			}
			skipped++
			continue
		}
		var want *mdBlock
		if i+1 < len(blocks) && slices.Contains([]string{"json", "http", "csv"}, blocks[i+1].info) && blocks[i+1].line == b.end+2 {
			want = &blocks[i+1]
		}
		r.runBlock(where, b, want)
		ran++
		if r.t.Failed() {
			r.t.FailNow() // the examples build on one another
		}
	}
	// Few examples may be left out, or the test would prove little.
	if skipped > 1 {
		r.t.Errorf("%s skips %d examples; at most one (the command that starts the server)", r.file, skipped)
	}
	return ran
}

// curlPrelude replaces curl by a function that records each call's status
// and body, and still prints the body as curl would.
const curlPrelude = `set -euo pipefail
curl() {
  local n
  n=$(( $(cat "$README_RUN/count" 2>/dev/null || echo 0) + 1 ))
  echo "$n" > "$README_RUN/count"
  command curl --max-time 20 -sS -o "$README_RUN/$n.body" -w '%{http_code}' "$@" > "$README_RUN/$n.status"
  cat "$README_RUN/$n.body"
}
`

func (r *readmeRun) runBlock(where string, b mdBlock, want *mdBlock) {
	t := r.t
	script := r.substitute(where, b.body)
	runDir := filepath.Join(r.dir, "calls")
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sh := exec.CommandContext(ctx, "bash", "-c", curlPrelude+script)
	sh.Dir = r.dir
	sh.Env = append(os.Environ(), "REFUNDRY_KEY="+r.key, "README_RUN="+runDir,
		"PATH="+filepath.Dir(r.bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	var stdout, stderr bytes.Buffer
	sh.Stdout, sh.Stderr = &stdout, &stderr
	if err := sh.Run(); err != nil {
		t.Fatalf("%s: the example failed (%v):\n%s\nstdout:\n%s\nstderr:\n%s", where, err, script, stdout.String(), stderr.String())
	}

	// Every curl of the block answered 2xx with JSON, or (with -i) with
	// headers and JSON.
	var last string
	var lastStatus int
	for ; ; r.calls++ {
		n := r.calls + 1
		code, err := os.ReadFile(filepath.Join(runDir, fmt.Sprintf("%d.status", n)))
		if err != nil {
			break
		}
		body, _ := os.ReadFile(filepath.Join(runDir, fmt.Sprintf("%d.body", n)))
		status, _ := strconv.Atoi(string(code))
		if status < 200 || status > 299 {
			t.Fatalf("%s: answered %d, want 2xx:\n%s\n%s", where, status, script, body)
		}
		if _, js := splitHTTP(string(body)); !json.Valid([]byte(js)) {
			t.Fatalf("%s: the answer is not JSON:\n%s", where, body)
		}
		last, lastStatus = string(body), status
	}

	if want != nil {
		got := stdout.String()
		if want.info != "csv" {
			if lastStatus == 0 {
				t.Fatalf("%s: an answer is printed after an example that sends no request", where)
			}
			got = last
		}
		if err := sameShape(want.info, want.body, got); err != nil {
			t.Errorf("%s: the answer does not match the one printed at line %d: %v\ngot:\n%s", where, want.line, err, got)
		}
	}

	// Placeholders the text says this answer gives.
	if b.annotation != "" {
		for _, pair := range strings.Fields(b.annotation) {
			name, path, ok := strings.Cut(pair, "=")
			if !ok || !regexp.MustCompile(`^[A-Z][A-Z_]+$`).MatchString(name) {
				t.Fatalf("%s: annotation %q is not NAME=path ... or skip (reason)", where, b.annotation)
			}
			v, err := jsonPath(last, path)
			if err != nil {
				t.Fatalf("%s: %s from %s: %v in\n%s", where, name, path, err, last)
			}
			r.values[name] = v
		}
	}
}

// substitute makes a block runnable here: the server's address, the key,
// and the placeholders earlier answers gave.
func (r *readmeRun) substitute(where, s string) string {
	addr := strings.TrimPrefix(r.base, "http://")
	s = strings.ReplaceAll(s, "http://localhost:8080", r.base)
	s = strings.ReplaceAll(s, "localhost:8080", addr)
	s = strings.ReplaceAll(s, "rfk_...", r.key)
	for name, v := range r.values {
		s = regexp.MustCompile(`\b`+name+`\b`).ReplaceAllLiteralString(s, v)
	}
	if m := regexp.MustCompile(`\b(SALE_ID|LINE_ITEM_ID|TRANSACTION_NUMBER|TRANSACTION_ID|REFUND_ID)\b`).FindString(s); m != "" {
		r.t.Fatalf("%s: %s is used before the README says where it comes from", where, m)
	}
	return s
}

// splitHTTP splits curl -i output into its head and its body; output
// without a head is all body.
func splitHTTP(s string) (head, body string) {
	if !strings.HasPrefix(s, "HTTP/") {
		return "", s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	head, body, _ = strings.Cut(s, "\n\n")
	return head, body
}

// sameShape compares an answer with the one printed: for JSON the same
// fields with values of the same kinds, for HTTP the status and the
// printed headers too, for CSV the same lines and columns with the same
// values, but for placeholders (REFUND_ID).
func sameShape(kind, want, got string) error {
	switch kind {
	case "http":
		wantHead, wantBody := splitHTTP(want)
		gotHead, gotBody := splitHTTP(got)
		wantLines, gotLines := strings.Split(wantHead, "\n"), strings.Split(gotHead, "\n")
		if ws, gs := strings.Fields(wantLines[0]), strings.Fields(gotLines[0]); len(ws) < 2 || len(gs) < 2 || ws[1] != gs[1] {
			return fmt.Errorf("status line %q, printed %q", gotLines[0], wantLines[0])
		}
		for _, h := range wantLines[1:] {
			name, _, _ := strings.Cut(h, ":")
			if !slices.ContainsFunc(gotLines[1:], func(g string) bool {
				return strings.HasPrefix(strings.ToLower(g), strings.ToLower(name)+":")
			}) {
				return fmt.Errorf("no header %s", name)
			}
		}
		return sameShape("json", wantBody, gotBody)
	case "json":
		var w, g any
		if err := decodeNumbers(want, &w); err != nil {
			return fmt.Errorf("the printed answer is not JSON: %v", err)
		}
		if err := decodeNumbers(got, &g); err != nil {
			return fmt.Errorf("the answer is not JSON: %v", err)
		}
		return sameJSONShape("$", w, g)
	case "csv":
		wl, gl := strings.Split(strings.TrimSpace(want), "\n"), strings.Split(strings.TrimSpace(got), "\n")
		if len(wl) != len(gl) {
			return fmt.Errorf("%d lines, printed %d", len(gl), len(wl))
		}
		for i := range wl {
			wf, gf := strings.Split(wl[i], ","), strings.Split(gl[i], ",")
			if len(wf) != len(gf) {
				return fmt.Errorf("line %d has %d fields, printed %d", i+1, len(gf), len(wf))
			}
			for j := range wf {
				placeholder := regexp.MustCompile(`^[A-Z][A-Z_]+$`).MatchString(wf[j])
				if placeholder && gf[j] == "" || !placeholder && wf[j] != gf[j] {
					return fmt.Errorf("line %d field %d is %q, printed %q", i+1, j+1, gf[j], wf[j])
				}
			}
		}
		return nil
	}
	return fmt.Errorf("no way to compare a %q answer", kind)
}

func decodeNumbers(s string, v any) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	return dec.Decode(v)
}

// sameJSONShape: objects have the same keys, values the same JSON kinds;
// null stands for a value that may be absent, and the first elements of
// two arrays are compared.
func sameJSONShape(at string, want, got any) error {
	if want == nil || got == nil {
		return nil
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s is %T, printed an object", at, got)
		}
		for k := range w {
			if _, ok := g[k]; !ok {
				return fmt.Errorf("%s.%s is missing", at, k)
			}
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				return fmt.Errorf("%s.%s is not in the printed answer", at, k)
			}
		}
		for k := range w {
			if err := sameJSONShape(at+"."+k, w[k], g[k]); err != nil {
				return err
			}
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok {
			return fmt.Errorf("%s is %T, printed an array", at, got)
		}
		if len(w) > 0 && len(g) > 0 {
			return sameJSONShape(at+"[0]", w[0], g[0])
		}
		return nil
	default:
		if fmt.Sprintf("%T", want) != fmt.Sprintf("%T", got) {
			return fmt.Errorf("%s is %T, printed %T", at, got, want)
		}
		return nil
	}
}

// jsonPath reads a value at a dotted path (data.0.id) of a JSON answer.
func jsonPath(body, path string) (string, error) {
	_, js := splitHTTP(body)
	var v any
	if err := decodeNumbers(js, &v); err != nil {
		return "", err
	}
	for _, part := range strings.Split(path, ".") {
		switch c := v.(type) {
		case map[string]any:
			v = c[part]
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(c) {
				return "", fmt.Errorf("no element %s", part)
			}
			v = c[i]
		default:
			return "", fmt.Errorf("nothing at %s", part)
		}
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	}
	return "", fmt.Errorf("%s is %T, not a string or a number", path, v)
}

// checkReadyzDocumented checks that docs/operations.md names every check
// /readyz runs.
func checkReadyzDocumented(t *testing.T, base string) {
	t.Helper()
	res, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var report struct{ Checks []struct{ Name string } }
	if err := json.NewDecoder(res.Body).Decode(&report); err != nil || len(report.Checks) == 0 {
		t.Fatalf("/readyz: %v %+v", err, report)
	}
	ops, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	// The checks are named between the route's row and the end of its
	// section.
	_, section, ok := strings.Cut(string(ops), "| `GET /readyz`")
	if !ok {
		t.Fatal("docs/operations.md has no row for GET /readyz")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	for _, c := range report.Checks {
		if !strings.Contains(section, "`"+c.Name+"`") {
			t.Errorf("docs/operations.md does not name the /readyz check %q", c.Name)
		}
	}
}

// TestREADMESynopsis checks that "Running it" names every flag of each
// command, and no flag a command lacks.
func TestREADMESynopsis(t *testing.T) {
	bin := buildBinary(t)
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n## Running it\n")
	if !ok {
		t.Fatal("README.md has no section Running it")
	}
	_, block, _ := strings.Cut(section, "```\n")
	block, _, _ = strings.Cut(block, "```")
	var synopses []string // one per command, continuation lines joined
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		if strings.HasPrefix(line, "refundry ") {
			synopses = append(synopses, line)
		} else if len(synopses) > 0 {
			synopses[len(synopses)-1] += " " + strings.TrimSpace(line)
		}
	}
	if len(synopses) < 6 {
		t.Fatalf("Running it lists %d commands:\n%s", len(synopses), block)
	}
	flagDoc := regexp.MustCompile(`(?m)^\s+-([a-z][a-z0-9-]*)`)
	flagUse := regexp.MustCompile(`--([a-z][a-z0-9-]*)`)
	for _, syn := range synopses {
		var words []string
		for _, w := range strings.Fields(syn)[1:] {
			if strings.HasPrefix(w, "-") || strings.HasPrefix(w, "[") {
				break
			}
			words = append(words, w)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		help, _ := exec.CommandContext(ctx, bin, append(words, "-h")...).CombinedOutput()
		cancel()
		var has []string
		for _, m := range flagDoc.FindAllStringSubmatch(string(help), -1) {
			has = append(has, m[1])
		}
		if len(has) == 0 {
			t.Errorf("refundry %s -h lists no flags:\n%s", strings.Join(words, " "), help)
			continue
		}
		var named []string
		for _, m := range flagUse.FindAllStringSubmatch(syn, -1) {
			named = append(named, m[1])
		}
		for _, f := range has {
			if !slices.Contains(named, f) {
				t.Errorf("Running it: refundry %s does not name --%s", strings.Join(words, " "), f)
			}
		}
		for _, f := range named {
			if !slices.Contains(has, f) {
				t.Errorf("Running it: refundry %s names --%s, which it does not have", strings.Join(words, " "), f)
			}
		}
	}
}

// sameShape must tell a changed answer from the printed one, or the README
// test would pass whatever the server said.
func TestSameShape(t *testing.T) {
	for _, tt := range []struct {
		name, kind, want, got string
		ok                    bool
	}{
		{"OKOtherValues", "json", `{"id":"a","n":1,"l":[{"x":true}]}`, `{"id":"b","n":2.5,"l":[{"x":false},{"x":true}]}`, true},
		{"OKNullable", "json", `{"a":null,"b":"x"}`, `{"a":"set","b":null}`, true},
		{"ErrMissingField", "json", `{"a":1,"b":2}`, `{"a":1}`, false},
		{"ErrExtraField", "json", `{"a":1}`, `{"a":1,"b":2}`, false},
		{"ErrKind", "json", `{"a":1}`, `{"a":"1"}`, false},
		{"ErrNestedKind", "json", `{"l":[{"x":true}]}`, `{"l":[{"x":"true"}]}`, false},
		{"OKHTTP", "http", "HTTP/1.1 200 OK\nIdentifier: x\n\n{\"s\": 1}", "HTTP/1.1 200 OK\r\nDate: now\r\nIdentifier: y\r\n\r\n{\"s\": 2}", true},
		{"ErrHTTPStatus", "http", "HTTP/1.1 200 OK\n\n{}", "HTTP/1.1 201 Created\n\n{}", false},
		{"ErrHTTPHeader", "http", "HTTP/1.1 200 OK\nIdentifier: x\n\n{}", "HTTP/1.1 200 OK\n\n{}", false},
		{"OKCSV", "csv", "row,status,refund\n1,succeeded,REFUND_ID\n", "row,status,refund\n1,succeeded,abc\n", true},
		{"ErrCSVValue", "csv", "row,status,refund\n1,succeeded,REFUND_ID\n", "row,status,refund\n1,failed,abc\n", false},
		{"ErrCSVPlaceholderEmpty", "csv", "row,refund\n1,REFUND_ID\n", "row,refund\n1,\n", false},
		{"ErrCSVLines", "csv", "row\n1\n", "row\n1\n2\n", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := sameShape(tt.kind, tt.want, tt.got); (err == nil) != tt.ok {
				t.Errorf("sameShape = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

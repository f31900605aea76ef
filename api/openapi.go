package api

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strings"
)

// OpenAPI is the OpenAPI 3.1 document of the native API. It is written by
// hand and kept true by a test that checks real answers of every route
// against it (openapi_test.go), so a change of a wire shape that forgets
// the document fails the build.
//
//go:embed openapi.json
var OpenAPI []byte

// OpenAPIHandler serves the document as is.
func OpenAPIHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(OpenAPI)
	})
}

// ReferenceHandler serves the API reference: HTML rendered on the server
// from the embedded document, with no script and nothing fetched from
// elsewhere, so it works offline and behind any firewall. It is rendered
// once, at the first request; the document cannot change while running.
func ReferenceHandler() http.Handler {
	page, err := renderReference(OpenAPI)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err != nil {
			http.Error(w, "The API reference could not be rendered.", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
}

// The parts of an OpenAPI document the reference shows.
type oaDoc struct {
	Info struct {
		Title, Version, Description string
	}
	Paths      map[string]map[string]oaOperation
	Components struct {
		Schemas map[string]oaSchema
	}
}

type oaOperation struct {
	OperationID string `json:"operationId"`
	Summary     string
	Description string
	Parameters  []struct {
		Name, In, Description string
		Required              bool
		Schema                oaSchema
	}
	RequestBody *struct {
		Content map[string]struct{ Schema oaSchema }
	} `json:"requestBody"`
	Responses map[string]struct {
		Description string
		Content     map[string]struct{ Schema oaSchema }
	}
}

type oaSchema struct {
	Ref         string `json:"$ref"`
	Type        any
	Description string
	Enum        []any
	Const       any
	Properties  map[string]oaSchema
	Required    []string
	Items       *oaSchema
	OneOf       []oaSchema `json:"oneOf"`
	AllOf       []oaSchema `json:"allOf"`
}

// typeName says in a few words what a schema holds.
func (s oaSchema) typeName() string {
	switch {
	case s.Ref != "":
		return strings.TrimPrefix(s.Ref, "#/components/schemas/")
	case len(s.OneOf) > 0:
		var parts []string
		for _, o := range s.OneOf {
			parts = append(parts, o.typeName())
		}
		return strings.Join(parts, " | ")
	case len(s.AllOf) > 0:
		// allOf narrows a named schema (a created endpoint is a
		// WebhookEndpoint that holds its secret): show the name.
		var parts []string
		for _, o := range s.AllOf {
			parts = append(parts, o.typeName())
		}
		return strings.Join(parts, " & ")
	case s.Items != nil:
		return "array of " + s.Items.typeName()
	case s.Const != nil:
		return fmt.Sprintf("%q", s.Const)
	}
	switch t := s.Type.(type) {
	case string:
		return t
	case []any:
		var parts []string
		for _, p := range t {
			parts = append(parts, fmt.Sprint(p))
		}
		return strings.Join(parts, " | ")
	}
	return "any"
}

type refOperation struct {
	Method, Path, ID, Summary, Description string
	Params                                 []refField
	Request                                []refBody
	Responses                              []refResponse
}

type refResponse struct {
	Status, Description string
	Bodies              []refBody
}

// refBody is one media type of a request or response body: what it holds,
// linked to the schema's section when that is a named schema. Media is
// empty for JSON, the usual case; others (text/csv) are named.
type refBody struct{ Media, Schema, Link string }

func refBodies(content map[string]struct{ Schema oaSchema }, named map[string]oaSchema) []refBody {
	var out []refBody
	for media, c := range content {
		b := refBody{Media: media, Schema: c.Schema.typeName()}
		if media == "application/json" {
			b.Media = ""
		}
		if _, ok := named[b.Schema]; ok {
			b.Link = b.Schema
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Media < out[j].Media })
	return out
}

type refField struct {
	Name, Type, Description string
	Required                bool
	Enum                    string
}

type refSchema struct {
	Name, Description string
	Fields            []refField
}

func renderReference(raw []byte) ([]byte, error) {
	var doc oaDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	var ops []refOperation
	for path, methods := range doc.Paths {
		for method, op := range methods {
			ro := refOperation{Method: strings.ToUpper(method), Path: path, ID: op.OperationID, Summary: op.Summary, Description: op.Description}
			for _, p := range op.Parameters {
				ro.Params = append(ro.Params, refField{Name: p.Name + " (" + p.In + ")", Type: p.Schema.typeName(), Description: p.Description, Required: p.Required, Enum: enumText(p.Schema)})
			}
			if op.RequestBody != nil {
				ro.Request = refBodies(op.RequestBody.Content, doc.Components.Schemas)
			}
			for status, r := range op.Responses {
				ro.Responses = append(ro.Responses, refResponse{status, r.Description, refBodies(r.Content, doc.Components.Schemas)})
			}
			sort.Slice(ro.Responses, func(i, j int) bool { return ro.Responses[i].Status < ro.Responses[j].Status })
			ops = append(ops, ro)
		}
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].Path != ops[j].Path {
			return ops[i].Path < ops[j].Path
		}
		return ops[i].Method > ops[j].Method // POST before GET: create, then read
	})
	var schemas []refSchema
	for name, s := range doc.Components.Schemas {
		rs := refSchema{Name: name, Description: s.Description}
		for field, fs := range s.Properties {
			rs.Fields = append(rs.Fields, refField{Name: field, Type: fs.typeName(), Description: fs.Description,
				Required: contains(s.Required, field), Enum: enumText(fs)})
		}
		sort.Slice(rs.Fields, func(i, j int) bool { return rs.Fields[i].Name < rs.Fields[j].Name })
		schemas = append(schemas, rs)
	}
	sort.Slice(schemas, func(i, j int) bool { return schemas[i].Name < schemas[j].Name })
	var buf bytes.Buffer
	err := referenceTemplate.Execute(&buf, map[string]any{"Info": doc.Info, "Operations": ops, "Schemas": schemas})
	return buf.Bytes(), err
}

func enumText(s oaSchema) string {
	var parts []string
	for _, e := range s.Enum {
		parts = append(parts, fmt.Sprint(e))
	}
	return strings.Join(parts, ", ")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// inlineMarkdown renders the one piece of Markdown the document's texts
// use, `code`, as HTML and escapes the rest; the texts are written for
// Markdown viewers of the JSON too. An unpaired backtick is shown as it is.
func inlineMarkdown(s string) template.HTML {
	parts := strings.Split(s, "`")
	if len(parts)%2 == 0 {
		return template.HTML(template.HTMLEscapeString(s))
	}
	var b strings.Builder
	for i, p := range parts {
		if i%2 == 1 {
			b.WriteString("<code>" + template.HTMLEscapeString(p) + "</code>")
		} else {
			b.WriteString(template.HTMLEscapeString(p))
		}
	}
	return template.HTML(b.String())
}

var referenceTemplate = template.Must(template.New("reference").Funcs(template.FuncMap{"md": inlineMarkdown}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Info.Title}} reference</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
code,.path{font-family:ui-monospace,monospace}
h2{margin-top:2.5rem;border-bottom:1px solid #ddd}
.op{border:1px solid #ddd;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}
.method{display:inline-block;min-width:3.5rem;font-weight:bold}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
td,th{border-top:1px solid #eee;padding:.25rem .5rem;text-align:left;vertical-align:top}
.req{color:#b00}
nav a{margin-right:1rem}
</style></head><body>
<h1>{{.Info.Title}} <small>v{{.Info.Version}}</small></h1>
<p>{{md .Info.Description}}</p>
<p>The machine-readable document: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
<nav>{{range .Operations}}<a href="#{{.ID}}"><code>{{.Method}} {{.Path}}</code></a> {{end}}</nav>
<h2>Routes</h2>
{{range .Operations}}<section class="op" id="{{.ID}}">
<h3><span class="method">{{.Method}}</span> <span class="path">{{.Path}}</span></h3>
<p>{{md .Summary}}{{if .Description}}. {{md .Description}}{{end}}</p>
{{if .Params}}<table><tr><th>Parameter</th><th>Type</th><th>Description</th></tr>
{{range .Params}}<tr><td><code>{{.Name}}</code>{{if .Required}} <span class="req">required</span>{{end}}</td><td>{{.Type}}{{if .Enum}}: {{.Enum}}{{end}}</td><td>{{md .Description}}</td></tr>
{{end}}</table>{{end}}
{{if .Request}}<p>Request body: {{range $i, $b := .Request}}{{if $i}}, or {{end}}{{template "body" $b}}{{end}}</p>{{end}}
<table><tr><th>Status</th><th>Body</th><th>When</th></tr>
{{range .Responses}}<tr><td>{{.Status}}</td><td>{{range $i, $b := .Bodies}}{{if $i}}, or {{end}}{{template "body" $b}}{{end}}</td><td>{{md .Description}}</td></tr>
{{end}}</table></section>
{{end}}
<h2>Objects</h2>
{{range .Schemas}}<section id="schema-{{.Name}}"><h3>{{.Name}}</h3>{{if .Description}}<p>{{md .Description}}</p>{{end}}
<table><tr><th>Field</th><th>Type</th><th>Description</th></tr>
{{range .Fields}}<tr><td><code>{{.Name}}</code>{{if .Required}} <span class="req">always</span>{{end}}</td><td>{{.Type}}{{if .Enum}}: {{.Enum}}{{end}}</td><td>{{md .Description}}</td></tr>
{{end}}</table></section>
{{end}}
</body></html>
{{define "body"}}{{if .Link}}<a href="#schema-{{.Link}}">{{.Schema}}</a>{{else}}{{.Schema}}{{end}}{{if .Media}} ({{.Media}}){{end}}{{end}}`))

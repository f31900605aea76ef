package engine_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEngineIsTheOnlyDoor: the edges (the native API, the dialects, the
// dashboard and their shared toolkit) reach the stores only through
// engine methods, reads included. No code of theirs but tests imports a
// store package or names the engine's Stores; only cmd/ opens a store
// and hands it to the engine.
func TestEngineIsTheOnlyDoor(t *testing.T) {
	const module = "github.com/refundry/refundry/"
	fset := token.NewFileSet()
	checked := 0
	for _, dir := range []string{"api", "dialect", "web", "edge"} {
		err := filepath.WalkDir(filepath.Join("..", dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			checked++
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if strings.HasPrefix(p, module+"store/") {
					t.Errorf("%s imports %s: an edge reaches a store only through the engine", path, p)
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok && (sel.Sel.Name == "Stores" || sel.Sel.Name == "StoresOf") {
					t.Errorf("%s: %s names the stores: an edge calls engine methods instead", fset.Position(sel.Pos()), sel.Sel.Name)
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked < 20 {
		t.Fatalf("checked %d files of the edges; the walk missed them", checked)
	}
}

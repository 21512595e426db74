package gateway

import (
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// kindLiteral is one problemKind composite literal found in the source.
type kindLiteral struct {
	slug, status, title string // status and title as written (expressions)
	pos                 string
}

// problemKindLiterals parses the package's non-test Go files and returns
// every problemKind composite literal: declared (problem.go's kind…
// variables), written inline (limitBody's), or element-typed in a
// []problemKind literal.
func problemKindLiterals(t *testing.T) []kindLiteral {
	t.Helper()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	var out []kindLiteral
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			if isIdent(lit.Type, "problemKind") {
				out = append(out, kindOf(t, fset, lit))
			}
			if arr, ok := lit.Type.(*ast.ArrayType); ok && isIdent(arr.Elt, "problemKind") {
				for _, el := range lit.Elts {
					if inner, ok := el.(*ast.CompositeLit); ok && inner.Type == nil {
						out = append(out, kindOf(t, fset, inner))
					}
				}
			}
			return true
		})
	}
	return out
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

// kindOf reads a problemKind literal, positional or keyed. Its slug must be
// a string literal: a computed one could not be checked here.
func kindOf(t *testing.T, fset *token.FileSet, lit *ast.CompositeLit) kindLiteral {
	t.Helper()
	pos := fset.Position(lit.Pos()).String()
	fields := map[string]ast.Expr{}
	for i, el := range lit.Elts {
		if kv, ok := el.(*ast.KeyValueExpr); ok {
			fields[kv.Key.(*ast.Ident).Name] = kv.Value
			continue
		}
		require.Less(t, i, 3, "%s: problemKind has three fields", pos)
		fields[[]string{"slug", "status", "title"}[i]] = el
	}
	slugLit, ok := fields["slug"].(*ast.BasicLit)
	require.True(t, ok && slugLit.Kind == token.STRING, "%s: a problemKind's slug must be a string literal", pos)
	slug, err := strconv.Unquote(slugLit.Value)
	require.NoError(t, err, pos)
	src := func(e ast.Expr) string {
		if e == nil {
			return ""
		}
		var b strings.Builder
		require.NoError(t, printer.Fprint(&b, fset, e))
		return b.String()
	}
	return kindLiteral{slug: slug, status: src(fields["status"]), title: src(fields["title"]), pos: pos}
}

// TestProblemTypesListsEveryKind keeps ProblemTypes the single list of the
// gateway's problem types: a problemKind written anywhere in the package
// that is not in problemKinds fails here, as does one slug with two
// statuses or titles.
func TestProblemTypesListsEveryKind(t *testing.T) {
	t.Parallel()
	lits := problemKindLiterals(t)
	require.NotEmpty(t, lits)
	bySlug := map[string]kindLiteral{}
	for _, l := range lits {
		if first, ok := bySlug[l.slug]; ok {
			require.Equal(t, first.status, l.status, "slug %q has two statuses (%s, %s)", l.slug, first.pos, l.pos)
			require.Equal(t, first.title, l.title, "slug %q has two titles (%s, %s)", l.slug, first.pos, l.pos)
			continue
		}
		bySlug[l.slug] = l
	}
	var inSource []string
	for slug := range bySlug {
		inSource = append(inSource, slug)
	}
	slices.Sort(inSource)
	require.Equal(t, inSource, ProblemTypes(), "every problemKind in the package must be in problemKinds (problemtypes.go)")

	seen := map[string]bool{}
	for _, k := range problemKinds {
		require.False(t, seen[k.slug], "problemKinds lists %q twice", k.slug)
		seen[k.slug] = true
		require.NotEmpty(t, k.title, k.slug)
		require.NotZero(t, k.status, k.slug)
	}
	require.Contains(t, ProblemTypes(), "request-too-large", "the kind of limitBody")
	require.True(t, slices.IsSorted(ProblemTypes()))
}

#!/usr/bin/env bash
# Replaces the vendored GraphiQL and React files with the given versions,
# taken from the npm registry with `npm pack` (see README.md beside this file).
#
#   assets/graphiql/update.sh [GRAPHIQL_VERSION [REACT_VERSION]]
#
# Versions are exact (4.1.2, not 4). The file names carry the version, so
# src/graphiql.rs must be changed to the new names afterwards: until then the
# build fails on the missing files rather than serving stale ones.
set -euo pipefail

graphiql=${1:-4.1.2}
react=${2:-18.3.1}

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Unpacks one package into $work/<name>/package.
unpack() {
    local name=$1 version=$2 tarball
    tarball=$(cd "$work" && npm pack --silent "$name@$version")
    mkdir "$work/$name"
    tar -xzf "$work/$tarball" -C "$work/$name"
    local got
    got=$(node -p "require('$work/$name/package/package.json').version")
    [ "$got" = "$version" ] || { echo "asked for $name@$version, got $got" >&2; exit 1; }
}

unpack graphiql "$graphiql"
unpack react "$react"
unpack react-dom "$react"

rm -f "$here"/*.js "$here"/*.css "$here"/LICENSE.* "$here"/SHA256SUMS
cp "$work/graphiql/package/graphiql.min.js" "$here/graphiql-$graphiql.min.js"
cp "$work/graphiql/package/graphiql.min.css" "$here/graphiql-$graphiql.min.css"
cp "$work/react/package/umd/react.production.min.js" "$here/react-$react.production.min.js"
cp "$work/react-dom/package/umd/react-dom.production.min.js" "$here/react-dom-$react.production.min.js"
cp "$work/graphiql/package/LICENSE" "$here/LICENSE.graphiql"
cp "$work/react/package/LICENSE" "$here/LICENSE.react"
cp "$work/react-dom/package/LICENSE" "$here/LICENSE.react-dom"
(cd "$here" && sha256sum -- *.js *.css > SHA256SUMS)

echo "vendored graphiql $graphiql, react and react-dom $react into $here"
echo "now update the file names in src/graphiql.rs and the versions in $here/README.md"

#!/usr/bin/env bash
# Fails if an #include crosses the layer arrows of docs/architecture.md:
#   support → absl;  ir → support;  runtime → ir (Eigen only in runtime/kernels/*.cc);
#   passes → ir (never runtime);  compiler → everything, and the only place with LLVM headers.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0

# forbid <folder> <regex> <why>
forbid() {
  local hits
  hits=$(grep -rnHE --include='*.h' --include='*.cc' "$2" "$1" 2>/dev/null)
  if [ -n "$hits" ]; then
    echo "layering: $3"
    echo "$hits" | sed 's/^/  /'
    status=1
  fi
}

forbid support '#include "(ir|runtime|passes|compiler|tools)/' "support/ includes only absl"
forbid ir '#include "(runtime|passes|compiler|tools)/' "ir/ may include only support/"
forbid runtime '#include "(passes|compiler|tools)/' "runtime/ may include only ir/ and support/"
forbid passes '#include "(runtime|compiler|tools)/' "passes/ may include only ir/ and support/"
for dir in support ir runtime passes tools bench kiln; do
  forbid "$dir" '#include [<"](llvm|llvm-c)/' "LLVM headers only in compiler/"
done
for header in compiler/*.h; do
  forbid "$header" '#include [<"](llvm|llvm-c)/' "LLVM headers only in compiler/*.cc, not headers"
done
# Eigen only inside runtime/kernels/*.cc, and in kiln/eigen.h (optional, header-only views for
# users who include it; no kiln header includes it).
hits=$(grep -rnHE --include='*.h' --include='*.cc' '#include [<"](Eigen|unsupported/Eigen)' \
         support ir runtime passes compiler tools kiln 2>/dev/null |
       grep -v '^runtime/kernels/[^/]*\.cc:' | grep -v '^kiln/eigen\.h:')
if [ -n "$hits" ]; then
  echo "layering: Eigen only in runtime/kernels/*.cc"
  echo "$hits" | sed 's/^/  /'
  status=1
fi
[ $status -eq 0 ] && echo "layering: ok"
exit $status

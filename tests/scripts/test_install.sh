#!/usr/bin/env bash
# test_install.sh — `cmake --install` into a temporary prefix, then a user
# program builds against it three ways: pkg-config, CMake find_package(Kiln)
# and plain -lkiln; it runs, reports the runtime version and loads a model
# through the installed libkiln.so.0 (SONAME checked).
set -euo pipefail
BUILD=${KILN_BUILD:?}
if grep -qE "KILN_(SANITIZE|FUZZ):BOOL=ON" "$BUILD/CMakeCache.txt" 2>/dev/null; then
  echo "SKIPPED: sanitizer build: an uninstrumented user program cannot load an ASan libkiln"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$BUILD" --prefix "$tmp/prefix" >/dev/null
lib=$(ls "$tmp"/prefix/lib*/libkiln.so.0.* 2>/dev/null | head -1)
[ -n "$lib" ] || { echo "FAIL: libkiln.so.0.* not installed"; exit 1; }
soname=$(objdump -p "$lib" | awk '/SONAME/ {print $2}')
[ "$soname" = "libkiln.so.0" ] || { echo "FAIL: SONAME is '$soname'"; exit 1; }
[ -f "$tmp/prefix/include/kiln.h" ] && [ -f "$tmp/prefix/include/kiln_paddle.h" ] ||
  { echo "FAIL: headers not installed"; exit 1; }
libdir=$(dirname "$lib")

cat >"$tmp/app.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <kiln.h>
#include <kiln_paddle.h>
int main(int argc, char **argv) {
    if (strcmp(kiln_version(), KILN_VERSION_STRING) != 0) return 3;
    PD_Config *c = PD_ConfigCreate();
    PD_ConfigSetModelDir(c, argc > 1 ? argv[1] : "/nonexistent");
    PD_Predictor *p = PD_PredictorCreate(c);
    if (argc > 1 && !p) { fprintf(stderr, "%s\n", PD_GetLastError()); return 1; }
    if (argc == 1 && p) return 2; /* a missing model must fail cleanly */
    printf("kiln %s ok\n", kiln_version());
    PD_PredictorDestroy(p);
    return 0;
}
C
export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc -std=c11 -Wall -Werror "$tmp/app.c" -o "$tmp/app_pc" $(pkg-config --cflags --libs kiln)
LD_LIBRARY_PATH="$libdir" "$tmp/app_pc" >/dev/null
mkdir -p "$tmp/cmk"
cat >"$tmp/cmk/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(app C)
find_package(Kiln 0.1 REQUIRED)
add_executable(app ../app.c)
target_link_libraries(app PRIVATE Kiln::kiln)
CM
cmake -S "$tmp/cmk" -B "$tmp/cmk/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cmk/build" >/dev/null
LD_LIBRARY_PATH="$libdir" "$tmp/cmk/build/app" >/dev/null
if [ -d "${KILN_FIXTURES:-}/paddle/simple_model" ]; then
  LD_LIBRARY_PATH="$libdir" "$tmp/app_pc" "$KILN_FIXTURES/paddle/simple_model"
fi
echo "install: SONAME $soname, pkg-config and find_package(Kiln) builds run"

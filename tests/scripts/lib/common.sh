# common.sh — helpers the CLI test scripts share (sourced, not a test):
# a temp dir $T removed on exit, and assertions on a command's exit status and
# output ($T/out.txt).
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() {
    echo "FAIL: $*"
    exit 1
}
expect_rc() { # expect_rc RC CMD...: exact exit status; output in $T/out.txt
    local want=$1
    shift
    "$@" >"$T/out.txt" 2>&1
    local rc=$?
    [ "$rc" -eq "$want" ] || { cat "$T/out.txt"; fail "exit $rc (want $want): $*"; }
}
has() { # has REGEX WHAT: $T/out.txt matches (extended regex)
    grep -Eq -- "$1" "$T/out.txt" || { cat "$T/out.txt"; fail "$2 (no match for /$1/)"; }
}
lacks() {
    ! grep -Eq -- "$1" "$T/out.txt" || { cat "$T/out.txt"; fail "$2 (matched /$1/)"; }
}

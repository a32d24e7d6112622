#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# Bad command lines: pasta exits with status 1 and one line on stderr that
# names the offending option (or value), without running the command;
# --help and --version exit 0 and print to stdout.
. "$(dirname "$0")/lib.sh"

need_cmd timeout
hermetic_host
[ -x "$PASTA" ] || fail "no pasta binary at $PASTA (build first)"

d=$(new_tmpdir)

# bad WORD OPTION...: pasta OPTION... -- touch FILE must exit 1, print one
# line containing WORD on stderr, nothing on stdout, and not run the command.
bad() {
	local word=$1
	shift
	rm -f "$d/ran"
	timeout 20 "$PASTA" "$@" -- touch "$d/ran" > "$d/out" 2> "$d/err" < /dev/null
	local rc=$?
	check_eq "$rc" 1 "exit status of pasta $*"
	check_eq "$(wc -l < "$d/err")" 1 "lines on stderr for pasta $* ($(cat "$d/err"))"
	grep -qF -- "$word" "$d/err" || fail "pasta $*: message doesn't name '$word': $(cat "$d/err")"
	[ -s "$d/out" ] && fail "pasta $*: output on stdout: $(cat "$d/out")"
	[ -e "$d/ran" ] && fail "pasta $*: the command ran"
	return 0
}

bad --mtu --mtu 70000
bad 70000 --mtu 70000
bad -m -m abc
bad 300.1.1.1 -a 300.1.1.1
bad -a -a 300.1.1.1
bad -t -t 0
bad --bogus --bogus
# getopt's own words, which Podman matches to tell an older pasta lacks one
bad "pasta: unrecognized option '--bogus-option'" --bogus-option
bad "pasta: unrecognized option '--bogus-option'" --bogus-option=1
bad "pasta: option '--no' is ambiguous" --no
bad -n -a 192.0.2.77 -n 33
bad -g -g not-an-address
bad --netns --netns "$d/netns" 12345
# a namespace that can't be joined: status 1, one line naming it
timeout 20 "$PASTA" -q --netns "$d/no-such-netns" > "$d/out" 2> "$d/err" < /dev/null
check_eq "$?" 1 "exit status of pasta --netns with a missing path"
check_eq "$(wc -l < "$d/err")" 1 "lines on stderr for a missing --netns path ($(cat "$d/err"))"
grep -qF "$d/no-such-netns" "$d/err" || fail "missing --netns path not named: $(cat "$d/err")"

# --help: usage on stdout, status 0, and the command is not run
rm -f "$d/ran"
timeout 20 "$PASTA" --help -- touch "$d/ran" > "$d/out" 2> "$d/err"
check_eq "$?" 0 "exit status of --help"
head -n 1 "$d/out" | grep -q '^Usage: pasta ' || fail "--help: no usage line: $(head -n 3 "$d/out")"
grep -q -- '--config-net' "$d/out" || fail "--help doesn't mention --config-net"
[ -s "$d/err" ] && fail "--help wrote to stderr: $(cat "$d/err")"
[ -e "$d/ran" ] && fail "--help ran the command"
timeout 20 "$PASTA" -h > "$d/out2" 2>&1
check_eq "$?" 0 "exit status of -h"
cmp -s "$d/out" "$d/out2" || fail "-h and --help differ"

# --version
timeout 20 "$PASTA" --version > "$d/out" 2> "$d/err"
check_eq "$?" 0 "exit status of --version"
head -n 1 "$d/out" | grep -q '^pasta [^ ]' || fail "--version: $(head -n 1 "$d/out")"
[ -s "$d/err" ] && fail "--version wrote to stderr: $(cat "$d/err")"

exit 0

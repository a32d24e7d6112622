#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# The security profiles in contrib/ build: every AppArmor profile compiles
# with apparmor_parser, without loading anything into the kernel or
# touching its cache, and the SELinux modules compile with checkmodule and
# package with semodule_package (also with the policy devel Makefile, and
# linked against an installed refpolicy, where those are present). To prove
# the checks can fail, a copy of each with a deliberate error must be
# rejected. Nothing runs the daemon, so no hermetic host.
. "$(dirname "$0")/lib.sh"

AA=$PASST_ROOT/contrib/apparmor
SE=$PASST_ROOT/contrib/selinux
AA_PROFILES="usr.bin.passt usr.bin.pasta"
d=$(new_tmpdir)

# ---- AppArmor --------------------------------------------------------------

need_pkg apparmor_parser apparmor

# aa_build DIR PROFILE: compile DIR/PROFILE, abstractions from DIR first.
# -Q: don't load into the kernel, -K: no cache, -T: don't read one either.
aa_build() {
	apparmor_parser -Q -K -T -I "$1" "$1/$2" > "$d/aa.log" 2>&1
}

for p in $AA_PROFILES; do
	log "apparmor_parser -Q -K -T -I contrib/apparmor contrib/apparmor/$p"
	aa_build "$AA" "$p" || fail "AppArmor profile $p does not compile: $(cat "$d/aa.log")"
done

# One profile per file, named after the front-end it confines.
check_eq "$(apparmor_parser -N -I "$AA" "$AA/usr.bin.passt" 2>/dev/null)" passt \
	"profile name in usr.bin.passt"
check_eq "$(apparmor_parser -N -I "$AA" "$AA/usr.bin.pasta" 2>/dev/null)" pasta \
	"profile name in usr.bin.pasta"

# Broken copies: an unknown capability in the shared abstraction breaks
# both profiles (which also shows the abstraction is read from our tree,
# not from /etc/apparmor.d), a lost closing brace breaks one.
cp -r "$AA" "$d/aa-bad"
echo "  capability no_such_capability," >> "$d/aa-bad/abstractions/passt"
for p in $AA_PROFILES; do
	aa_build "$d/aa-bad" "$p" && fail "a broken abstractions/passt was accepted for $p"
done
cp "$AA/abstractions/passt" "$d/aa-bad/abstractions/passt"
for p in $AA_PROFILES; do
	sed -i 's/^}$//' "$d/aa-bad/$p"
	aa_build "$d/aa-bad" "$p" && fail "$p without its closing brace was accepted"
done

# ---- SELinux ---------------------------------------------------------------

need_pkg checkmodule checkpolicy
need_pkg semodule_package semodule-utils

# se_build TE OUT: compile a module (MLS/MCS, as the policies of Fedora,
# RHEL and Debian are); the module must be named after its file.
se_build() {
	checkmodule -M -m -o "$2" "$1" > "$d/se.log" 2>&1 &&
		! grep -q 'is different than the output base filename' "$d/se.log"
}

for m in passt passt_userns; do
	log "checkmodule -M -m -o $m.mod contrib/selinux/$m.te"
	se_build "$SE/$m.te" "$d/$m.mod" || fail "SELinux module $m.te: $(cat "$d/se.log")"
done
log "semodule_package -o passt.pp -m passt.mod -f contrib/selinux/passt.fc"
semodule_package -o "$d/passt.pp" -m "$d/passt.mod" -f "$SE/passt.fc" > "$d/se.log" 2>&1 ||
	fail "semodule_package passt: $(cat "$d/se.log")"
semodule_package -o "$d/passt_userns.pp" -m "$d/passt_userns.mod" > "$d/se.log" 2>&1 ||
	fail "semodule_package passt_userns: $(cat "$d/se.log")"

# File contexts: PATH-REGEX [FILE-TYPE] CONTEXT per line, for the paths the
# binary is installed at, and every type one the module declares.
awk -v te="$SE/passt.te" '
	BEGIN { while ((getline l < te) > 0) if (l ~ /^type [a-z_]+_exec_t,/) {
			split(l, w, /[ ,]+/); decl[w[2]] = 1 } }
	/^[ \t]*(#|$)/ { next }
	{ ctx = $NF; n = split(ctx, c, ":")
	  if ((NF != 2 && NF != 3) || n != 4 || c[1] != "system_u" || c[2] != "object_r" ||
	      !(c[3] in decl) || c[4] != "s0") { print "bad line " NR ": " $0; bad = 1 }
	  seen[$1] = 1 }
	END { split("/usr/bin/passt /usr/bin/pasta /usr/local/bin/passt(\\..*)? " \
		    "/usr/local/bin/pasta(\\..*)?", want, " ")
	      for (i in want) if (!(want[i] in seen)) { print "no context for " want[i]; bad = 1 }
	      exit bad }' "$SE/passt.fc" > "$d/fc.log" || fail "passt.fc: $(cat "$d/fc.log")"

# The reference policy's development Makefile (selinux-policy-devel on
# Fedora, selinux-policy-dev on Debian, or one unpacked in
# $PASST_TEST_SELINUX_DEVEL), if installed. Its default awk is gawk: any
# awk does for what it needs.
dev=${PASST_TEST_SELINUX_DEVEL:-/usr/share/selinux/devel}
if [ -f "$dev/Makefile" ]; then
	need_cmd make m4
	mkdir -p "$d/devel"
	cp "$SE/passt.te" "$SE/passt.fc" "$d/devel/"
	log "make -f $dev/Makefile passt.pp"
	make -C "$d/devel" -f "$dev/Makefile" HEADERDIR="$dev/include" AWK=awk passt.pp \
		> "$d/devel.log" 2>&1 || fail "building with $dev/Makefile: $(tail -n 20 "$d/devel.log")"
	[ -s "$d/devel/passt.pp" ] || fail "$dev/Makefile built no passt.pp"
else
	log "no SELinux policy devel Makefile in $dev: not built with it"
fi

# An installed refpolicy (Debian's selinux-policy-default, or the modules
# of one unpacked in $PASST_TEST_SELINUX_POLICY): link the module with every
# policy module and expand, which resolves the requirements and checks the
# neverallow rules.
pol=${PASST_TEST_SELINUX_POLICY:-/usr/share/selinux/default}
if [ -f "$pol/base.pp.bz2" ] || [ -f "$pol/base.pp" ]; then
	need_cmd semodule_link semodule_expand
	mkdir -p "$d/pol"
	for f in "$pol"/*.pp "$pol"/*.pp.bz2; do
		case $f in
		*.bz2) bunzip2 -c "$f" > "$d/pol/$(basename "$f" .bz2)" ;;
		*) [ -f "$f" ] && cp "$f" "$d/pol/" ;;
		esac
	done
	log "semodule_link and semodule_expand with $pol"
	mods=()
	for f in "$d"/pol/*.pp; do
		[ "$f" = "$d/pol/base.pp" ] || mods+=("$f")
	done
	semodule_link -o "$d/linked.pp" "$d/pol/base.pp" "${mods[@]}" "$d/passt.pp" \
		> "$d/link.log" 2>&1 || fail "linking with $pol: $(grep -v loading "$d/link.log")"
	semodule_expand "$d/linked.pp" "$d/policy.bin" > "$d/link.log" 2>&1 ||
		fail "expanding with $pol: $(cat "$d/link.log")"
else
	log "no refpolicy installed in $pol: module not linked against one"
fi

# Broken copies: a syntax error, and a type that is neither declared nor
# required, must both be rejected.
sed 's/^allow passt_domain self:process /alow passt_domain self:process /' \
	"$SE/passt.te" > "$d/passt.te"
grep -q '^alow ' "$d/passt.te" || fail "could not break passt.te for the negative check"
se_build "$d/passt.te" "$d/passt.mod" && fail "checkmodule accepted a syntax error"
{ cat "$SE/passt.te"; echo "allow passt_t no_such_type_t:file read;"; } > "$d/passt.te"
se_build "$d/passt.te" "$d/passt.mod" && fail "checkmodule accepted an unknown type"

exit 0

#!/usr/bin/env bash
# Makes the Debian 12 (bookworm) base images for docker/Dockerfile where no image registry is
# reachable: `debootstrap` from the Debian archive this machine's apt uses, then `docker import`.
# With Docker Hub, use debian:12 and debian:12-slim as they are and ignore this script.
#
#   scripts/debian-base-image.sh [--refresh] [--import | --import-runtime]
#
# Writes two root file system tarballs (made once, then reused; --refresh makes them again):
#   $SKYPORT_DOCKER_CACHE/debian-bookworm-KEY.tar       minbase + python3, git, curl,
#                                                       ca-certificates (for --build-arg BASE=...)
#   $SKYPORT_DOCKER_CACHE/debian-bookworm-KEY-runtime.tar  the same less docs, man pages, locales,
#                                                       apt lists, Python's tests, Perl, apt,
#                                                       e2fsprogs, git's servers: the base of
#                                                       docker/Dockerfile.prebuilt only (apt and
#                                                       dpkg cannot install packages into it)
# KEY hashes the mirror, the package lists and FORMAT, so a change to them makes new ones.
# The cache (default /var/cache/skyport-docker as root, else ~/.cache/skyport-docker) holds no
# secret and nothing of the tree. Several runs at once wait on one lock.
#
# --import: `docker import`s them (the engine DOCKER_HOST names) as skyport-debian:12 and
# skyport-debian:12-runtime, then prints nothing else; --import-runtime: only the second.
# Otherwise prints the two tarball paths, one a line.
#
# Environment: SKYPORT_DEBIAN_MIRROR (default: the first bookworm URI in /etc/apt/sources.list*,
# else http://deb.debian.org/debian), SKYPORT_DOCKER_CACHE.
# Exit status: 0 done; 1 a failure; 2 usage; 3 debootstrap cannot reach the archive or is missing
# (tests/compose/ turns 3 into a skip); 4 not root (debootstrap needs root).
set -euo pipefail

SUITE=bookworm
# What the runtime needs besides the binaries and their libraries: python3 for the example apps,
# git for pushing from the client container, curl for the health checks and the scenario.
INCLUDE=python3,git,curl,ca-certificates
FORMAT=1  # bump when the way the tarballs are made changes
SLIM_EXCLUDES=(
  ./usr/share/doc/* ./usr/share/man/* ./usr/share/info/* ./usr/share/locale/* ./usr/share/lintian/*
  ./usr/share/perl/* ./usr/share/perl5/* ./usr/lib/x86_64-linux-gnu/perl/* './usr/lib/x86_64-linux-gnu/libperl.so*'
  ./usr/share/git-core/contrib/* ./usr/share/gitweb ./usr/lib/git-core/git-http-push
  ./usr/lib/git-core/git-imap-send ./usr/lib/git-core/scalar ./usr/lib/git-core/git-daemon
  ./usr/lib/git-core/git-shell ./usr/lib/git-core/git-http-backend ./usr/lib/git-core/git-http-fetch
  ./usr/bin/scalar ./usr/bin/git-shell ./usr/lib/git-core/git-sh-i18n--envsubst ./var/lib/dpkg/info/*
  ./usr/bin/perl ./usr/bin/perl5.* ./usr/lib/x86_64-linux-gnu/perl-base/* ./var/cache/debconf/*.dat
  ./usr/bin/apt* ./usr/lib/apt/* './usr/lib/x86_64-linux-gnu/libapt-*' ./usr/bin/gpgv ./usr/bin/openssl
  ./usr/sbin/e2* ./usr/sbin/debugfs ./usr/sbin/mke2fs ./usr/sbin/tune2fs ./usr/sbin/resize2fs
  './usr/lib/x86_64-linux-gnu/libext2fs.so*'
  ./var/lib/apt/lists/* ./var/cache/apt/*.bin ./var/cache/debconf/*-old ./var/log/*.log
  ./usr/lib/x86_64-linux-gnu/gconv/*
  ./usr/lib/python3.11/test ./usr/lib/python3.11/ensurepip ./usr/lib/python3.11/idlelib
  ./usr/lib/python3.11/tkinter ./usr/lib/python3.11/lib2to3 ./usr/lib/python3.11/pydoc_data
  ./usr/lib/python3.11/turtledemo '*/__pycache__'
)

refresh=0 import=0
for a in "$@"; do
  case $a in
    --refresh) refresh=1 ;;
    --import) import=2 ;;
    --import-runtime) import=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "debian-base-image: unknown argument $a (see --help)" >&2; exit 2 ;;
  esac
done

log() { echo "debian-base-image: $*" >&2; }

if [[ $(id -u) -ne 0 ]]; then log "debootstrap needs root"; exit 4; fi
command -v debootstrap >/dev/null || { log "debootstrap is not installed (apt-get install debootstrap)"; exit 3; }

# The mirror apt uses: deb822 "URIs:" with a bookworm suite, or a one-line "deb URL bookworm".
mirror_from_apt() {
  local f
  for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -r $f ]] || continue
    if [[ $f == *.sources ]]; then
      awk -v s="$SUITE" '
        /^[ \t]*$/ { if (u != "" && ok) { print u; exit } u = ""; ok = 0; next }
        tolower($1) == "uris:" { u = $2 }
        tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == s) ok = 1 }
        END { if (u != "" && ok) print u }' "$f"
    else
      awk -v s="$SUITE" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) while ($i !~ /\]$/) i++; if ($2 ~ /^\[/) i++;
                          if ($(i + 1) == s) { print $i; exit } }' "$f"
    fi
  done | grep -m1 -E '^https?://' || true
}
MIRROR=${SKYPORT_DEBIAN_MIRROR:-$(mirror_from_apt)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

if [[ $(id -u) -eq 0 ]]; then CACHE=${SKYPORT_DOCKER_CACHE:-/var/cache/skyport-docker}
else CACHE=${SKYPORT_DOCKER_CACHE:-$HOME/.cache/skyport-docker}; fi
mkdir -p "$CACHE"
chmod 0755 "$CACHE"
KEY=$(echo "$FORMAT $MIRROR $SUITE $INCLUDE ${SLIM_EXCLUDES[*]}" | sha256sum | cut -c1-12)
FULL=$CACHE/debian-$SUITE-$KEY.tar
SLIM=$CACHE/debian-$SUITE-$KEY-runtime.tar

# One maker at a time; the others wait, then find the tarballs made.
exec 9>"$CACHE/.lock"
flock -w 1800 9 || { log "waited 30 min for $CACHE/.lock"; exit 1; }

if ((refresh)) || [[ ! -s $FULL || ! -s $SLIM ]]; then
  # The archive must answer before debootstrap spends minutes failing.
  if ! curl -fsS -o /dev/null --max-time 20 "$MIRROR/dists/$SUITE/Release"; then
    log "cannot reach the Debian archive at $MIRROR (set SKYPORT_DEBIAN_MIRROR)"
    exit 3
  fi
  work=$(mktemp -d "$CACHE/make.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  log "debootstrap $SUITE from $MIRROR (minbase + $INCLUDE) ..."
  start=$SECONDS
  if ! debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$work/root" "$MIRROR" >"$work/log" 2>&1; then
    tail -20 "$work/log" >&2
    if grep -qiE "Failed getting release file|Couldn't download|Temporary failure resolving|Connection refused" "$work/log"; then
      log "debootstrap could not fetch from $MIRROR"
      exit 3
    fi
    log "debootstrap failed (log above)"
    exit 1
  fi
  rm -rf "$work/root/var/cache/apt/archives/"*.deb
  # The archive's packages, not this machine's apt lists, so nothing of the host gets in.
  echo "deb $MIRROR $SUITE main" > "$work/root/etc/apt/sources.list"
  tar_args=(--numeric-owner --xattrs --exclude=./dev/* --exclude=./proc/* --exclude=./sys/* -C "$work/root")
  tar -cf "$work/full.tar" "${tar_args[@]}" .
  slim_args=()
  for x in "${SLIM_EXCLUDES[@]}"; do slim_args+=("--exclude=$x"); done
  tar -cf "$work/slim.tar" "${slim_args[@]}" "${tar_args[@]}" .
  mv "$work/full.tar" "$FULL"
  mv "$work/slim.tar" "$SLIM"
  log "made $(du -m "$FULL" | cut -f1) MB and $(du -m "$SLIM" | cut -f1) MB (runtime) in $((SECONDS - start)) s"
  # Old keys' tarballs are never used again.
  find "$CACHE" -maxdepth 1 -name "debian-$SUITE-*.tar" ! -name "debian-$SUITE-$KEY*" -delete
fi

if ((import)); then
  # The full one only where asked: importing it takes ~20 s, and tests need the runtime one.
  if ((import == 2)); then docker import -c 'CMD ["bash"]' "$FULL" skyport-debian:12 >/dev/null; fi
  docker import -c 'CMD ["bash"]' "$SLIM" skyport-debian:12-runtime >/dev/null
else
  echo "$FULL"
  echo "$SLIM"
fi

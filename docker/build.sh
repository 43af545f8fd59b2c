#!/usr/bin/env bash
# Builds herd's container image FROM scratch (no registry needed):
#   docker/build.sh                      builds herd + herd-webapp in build-docker/ if needed
#   docker/build.sh --bin-dir build      uses already built binaries (herd, herd-webapp) from build/
#   docker/build.sh --rootfs-only DIR    assembles the context in DIR, no `docker build`
# Environment: HERD_IMAGE (default herd-lb:latest), HERD_DOCKER_BUILD_DIR
# (default build-docker).
#
# The context holds exactly what herd needs at run time: the two stripped
# binaries, the shared libraries `ldd` lists for them plus the dynamic loader,
# glibc's NSS modules with /etc/nsswitch.conf (so `-join ha` resolves
# container names through Docker's DNS), /etc/passwd and /etc/group with the
# non-root user herd (10001), an empty /tmp, and /etc/herd/{haproxy.cfg,
# membership.yaml}. Docker itself provides /etc/hosts and /etc/resolv.conf.
set -euo pipefail
cd "$(dirname "$0")/.."
image=${HERD_IMAGE:-herd-lb:latest}
dir=${HERD_DOCKER_BUILD_DIR:-build-docker}
bin_dir=""
rootfs_only=""
while (($#)); do
  case $1 in
    --bin-dir) bin_dir=$2; shift 2 ;;
    --rootfs-only) rootfs_only=$2; shift 2 ;;
    --tag|-t) image=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "docker/build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

if [[ -z $bin_dir ]]; then
  if [[ ! -f $dir/CMakeCache.txt ]]; then
    gen=()
    command -v ninja >/dev/null && gen=(-G Ninja)
    # -O2: GCC 12 at -O3 reports false -Wrestrict positives in libstdc++.
    cmake -S . -B "$dir" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
      "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" -DHERD_TESTS=OFF
  fi
  cmake --build "$dir" -j"$(nproc)" --target herd herd-webapp
  bin_dir=$dir
fi
for b in herd herd-webapp; do
  [[ -x $bin_dir/$b ]] || { echo "docker/build.sh: $bin_dir/$b is missing" >&2; exit 1; }
done

if [[ -n $rootfs_only ]]; then
  ctx=$rootfs_only
  mkdir -p "$ctx"
else
  ctx=$(mktemp -d /tmp/herd-docker-ctx.XXXXXX)
  trap 'rm -rf "$ctx"' EXIT
fi
root=$ctx/rootfs
rm -rf "$root"
mkdir -p "$root"/{usr/local/bin,etc/herd,tmp,home/herd}
chmod 1777 "$root/tmp"

for b in herd herd-webapp; do
  strip --strip-all -o "$root/usr/local/bin/$b" "$bin_dir/$b"
done

# Shared libraries, at the paths the loader looks in (ldd shows the resolved
# path; the ELF interpreter path is kept as is, e.g. /lib64/ld-linux-x86-64.so.2).
copy_lib() {  # copy_lib /abs/path
  local src=$1
  [[ -e $root$src ]] && return 0
  mkdir -p "$root$(dirname "$src")"
  cp -L "$src" "$root$src"
  strip --strip-unneeded "$root$src" 2>/dev/null || true
}
libs=()
for b in herd herd-webapp; do
  while read -r path; do libs+=("$path"); done < <(
    ldd "$bin_dir/$b" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
done
libc_dir=""
for l in "${libs[@]}"; do
  copy_lib "$l"
  [[ $(basename "$l") == libc.so.6 ]] && libc_dir=$(dirname "$l")
done
[[ -n $libc_dir ]] || { echo "docker/build.sh: libc not found by ldd" >&2; exit 1; }
# glibc loads NSS modules with dlopen (since 2.34 files/dns are also built
# into libc; the modules are copied anyway for older or other C libraries).
for m in libnss_files.so.2 libnss_dns.so.2 libresolv.so.2; do
  [[ -e $libc_dir/$m ]] && copy_lib "$libc_dir/$m"
done

cat > "$root/etc/nsswitch.conf" <<'NSS'
passwd:         files
group:          files
hosts:          files dns
networks:       files
services:       files
protocols:      files
NSS
cat > "$root/etc/passwd" <<'PW'
root:x:0:0:root:/root:/sbin/nologin
herd:x:10001:10001:herd:/home/herd:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
PW
cat > "$root/etc/group" <<'GR'
root:x:0:
herd:x:10001:
nogroup:x:65534:
GR
printf 'tcp 6 TCP\nudp 17 UDP\n' > "$root/etc/protocols"
cp docker/haproxy.cfg docker/membership.yaml "$root/etc/herd/"
chmod -R go-w "$root"
chmod 1777 "$root/tmp"

size=$(du -sk "$root" | cut -f1)
echo "docker/build.sh: rootfs $((size / 1024)) MiB in $root"
if [[ -n $rootfs_only ]]; then exit 0; fi

# COPY keeps the modes and makes everything root's: herd (uid 10001) can
# read and run it all, write only /tmp.
docker build -q -f docker/Dockerfile -t "$image" \
  --label org.opencontainers.image.title=herd "$ctx" >/dev/null
docker image inspect -f '{{.Size}}' "$image" | awk -v i="$image" '{ printf "docker/build.sh: %s, %.1f MB\n", i, $1 / 1e6 }'

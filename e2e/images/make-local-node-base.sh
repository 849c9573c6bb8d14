#!/usr/bin/env bash
# Builds a local stand-in for `node:24-slim` from this machine's own files, for machines
# that cannot pull from a registry: the Node 24 binary and the libraries `ldd` lists,
# busybox (static) for /bin/sh, npm, and a non-root `node` user (uid 1000) as in the
# official image. Imported with `docker import`; nothing is downloaded but Debian's
# busybox-static package when it is missing.
#   usage: make-local-node-base.sh IMAGE_TAG
set -euo pipefail
tag=${1:?image tag}
node_bin=$(command -v node)
# The image's Node is 24: the system's own, or the one `make setup` installs into .tools/ on an older system.
tools_node="$(cd "$(dirname "$0")/../.." && pwd)/.tools/bin/node"
if [ -x "$tools_node" ]; then case "$("$tools_node" --version)" in v24.*) node_bin=$tools_node ;; esac; fi
case "$("$node_bin" --version)" in v24.*) ;; *) echo "need Node 24 on PATH or in .tools/bin (this machine has $("$node_bin" --version))" >&2; exit 1 ;; esac
if ! [ -x /bin/busybox ] || ! file -L /bin/busybox 2>/dev/null | grep -q 'statically linked'; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq busybox-static >&2
fi
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")

rootfs=$(mktemp -d)
chmod 755 "$rootfs" # mktemp makes it 0700: / must be traversable by the node user
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs"/{bin,usr/bin,usr/local/bin,usr/local/lib/node_modules,etc,tmp,home/node,app}
chmod 1777 "$rootfs/tmp"
cp "$(readlink -f "$node_bin")" "$rootfs/usr/local/bin/node"
# The whole glibc runtime (as in a Debian slim image), not only what `node` links: native
# addons such as Temporal's core bridge need librt, and name lookups need libnss_*.
libs=$( (ldd "$node_bin" | grep -o '/[^ ]*'; dpkg -L libc6 libstdc++6 libgcc-s1 2>/dev/null | grep -E '\.so(\.[0-9]+)*$') | sort -u)
for lib in $libs; do
  [ -e "$lib" ] || continue
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -a "$lib" "$rootfs$lib"
  target=$(readlink -f "$lib")
  if [ "$target" != "$lib" ]; then
    mkdir -p "$rootfs$(dirname "$target")"
    cp -L "$target" "$rootfs$target"
  fi
done
cp /bin/busybox "$rootfs/bin/busybox"
for applet in sh ash cat cp env ls mkdir rm mv chmod chown sleep kill ps grep sed tar wget id; do
  ln -s busybox "$rootfs/bin/$applet"
done
ln -s /bin/busybox "$rootfs/usr/bin/env"
cp -r "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
printf 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnode:x:1000:\n' > "$rootfs/etc/group"
echo 'hosts: files dns' > "$rootfs/etc/nsswitch.conf"
# The machine's trust store: where registry traffic passes a TLS-inspecting proxy, npm
# inside the build needs the same CAs as on the host.
ca_bundle=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
mkdir -p "$rootfs/etc/ssl/certs"
[ -f "$ca_bundle" ] && cp -L "$ca_bundle" "$rootfs/etc/ssl/certs/ca-certificates.crt"
chown -R 1000:1000 "$rootfs/home/node"

tar -C "$rootfs" -c . | docker import \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change 'WORKDIR /app' \
  --change 'CMD ["node"]' \
  - "$tag" >/dev/null
echo "$tag"

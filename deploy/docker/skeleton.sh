#!/bin/sh
# skeleton.sh SRC DEST: copy the workspace's build inputs that change rarely (manifests, lock file,
# build scripts, .proto files) into DEST, with every target root replaced by a stub. The
# Dockerfile builds DEST first, so its dependency layer is reused until one of these inputs
# changes; editing ordinary sources only rebuilds the workspace crates.
set -eu
src=$1
dest=$2
cd "$src"
mkdir -p "$dest"
cp Cargo.toml Cargo.lock "$dest/"
cp -R proto "$dest/proto"
for manifest in crates/*/Cargo.toml services/*/Cargo.toml; do
  dir=${manifest%/Cargo.toml}
  mkdir -p "$dest/$dir"
  cp "$manifest" "$dest/$dir/"
  if [ -f "$dir/build.rs" ]; then cp "$dir/build.rs" "$dest/$dir/"; fi
  # Every file cargo may treat as a target root must exist, or the workspace does not load.
  find "$dir" -path "$dir/target" -prune -o -type f \( \
      -path "$dir/src/lib.rs" -o -path "$dir/src/main.rs" -o -path "$dir/src/bin/*.rs" \
      -o -path "$dir/benches/*.rs" -o -path "$dir/examples/*.rs" -o -path "$dir/tests/*.rs" \
    \) -print | while read -r file; do
    mkdir -p "$dest/$(dirname "$file")"
    case "$file" in
      */src/lib.rs) : >"$dest/$file" ;;
      *) echo 'fn main() {}' >"$dest/$file" ;;
    esac
  done
done

#!/bin/sh
# Rebuilds xdp_dns.o from xdp_dns.c (needs clang, llvm and libbpf-dev). The object is committed so
# that building portcullis needs no clang; crates/xdp/tests/bpf_object.rs checks the two agree.
# Usage: build.sh [OUTPUT] (default: xdp_dns.o beside this script)
set -eu
cd "$(dirname "$0")"
out=${1:-xdp_dns.o}
clang -O2 -g -fdebug-prefix-map="$PWD"=. -target bpf -I/usr/include/x86_64-linux-gnu -c xdp_dns.c -o "$out"
# Keep BTF (maps are BTF-defined), drop DWARF so the object carries no build paths.
llvm-strip -g "$out"

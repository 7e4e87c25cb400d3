#!/usr/bin/env bash
# Builds the MLS library and the crypto layer for WebAssembly (issue 17, the
# web client's foundation) into build-wasm/:
#   deps/openssl/lib/libcrypto.a   OpenSSL's libcrypto from Debian 12's source
#                                  package, compiled with emcc (cached: built
#                                  only when missing)
#   deps/jansson/lib/libjansson.a  jansson, likewise (the vectors runner reads
#                                  the official JSON files with it)
#   bin/aim-mls-vectors.js + .wasm src/base, src/crypto and src/mls compiled with
#                                  emcc (cmake -DAIM_WASM=ON) and the official
#                                  MLS vectors runner, run with
#                                  `node build-wasm/bin/aim-mls-vectors.js DIR`
#                                  (NODERAWFS: the real filesystem)
#   bin/test_crypto.js, test_hpke.js the crypto unit tests (tests/mls), over
#                                  cmocka built likewise
# Why OpenSSL and not a JavaScript library: src/crypto compiles unchanged, so
# the browser runs the same code over the same back end as the server, from
# Debian's sources, with nothing fetched at run time.
# Usage: scripts/wasm-build.sh [BUILD_DIR]   (default build-wasm)
# Needs emscripten (Debian 12: 3.1.6) and, for the sources, deb-src lines:
# as root the script adds them for the bookworm archive when missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-build-wasm}
case "$out" in /*) ;; *) out="$root/$out" ;; esac
deps="$out/deps"
jobs=$(nproc 2>/dev/null || echo 2)
mkdir -p "$deps/src"

say() { echo "wasm-build: $*" >&2; }
now() { date +%s; }

if ! command -v emcc >/dev/null 2>&1; then
	if [ "$(id -u)" -ne 0 ]; then
		say "emscripten is missing: sudo apt-get install -y emscripten"
		exit 1
	fi
	say "installing emscripten"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends emscripten >/dev/null ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends emscripten >/dev/null; }
fi
# Debian's emscripten ships a prebuilt, frozen system-library cache under
# /usr/share/emscripten/cache: it works as it is. Node 18 and later have a
# global fetch() that emscripten 3.1.6's loader takes for a browser's, hence
# -sWASM_ASYNC_COMPILATION=0 at link time (the CMake side sets it). Its
# JavaScript tools need Debian's node modules (acorn), which a node that is not
# Debian's own does not look for.
export NODE_PATH="/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}"

# Fetches and unpacks Debian's source package $1 into $deps/src (once).
debian_source() {
	local pkg=$1 dir
	dir=$(find "$deps/src" -maxdepth 1 -type d -name "$pkg-[0-9]*" | sort | tail -1)
	if [ -n "$dir" ]; then
		echo "$dir"
		return
	fi
	if ! apt-cache showsrc "$pkg" 2>/dev/null | grep -q "^Package: $pkg\$"; then
		if [ "$(id -u)" -ne 0 ]; then
			say "no deb-src lines for apt: add 'Types: deb-src' for bookworm, apt-get update"
			exit 1
		fi
		say "adding deb-src lines for the bookworm archive"
		cat >/etc/apt/sources.list.d/aim-deb-src.sources <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
		apt-get update -qq
	fi
	# The newest version first (it may be the security archive's); the
	# release's own when a mirror lacks that one.
	(cd "$deps/src" && { apt-get source -qq "$pkg" >/dev/null 2>&1 ||
		apt-get source -qq "$pkg/bookworm" >/dev/null; })
	dir=$(find "$deps/src" -maxdepth 1 -type d -name "$pkg-[0-9]*" | sort | tail -1)
	[ -n "$dir" ] || { say "apt-get source $pkg unpacked nothing"; exit 1; }
	echo "$dir"
}

# libcrypto only, generic 32-bit C (wasm32: no assembler, no threads, no
# sockets, no dynamic loading), and only the algorithm families src/crypto
# can reach: SHA-2, HMAC, HKDF, AES-GCM, ChaCha20-Poly1305, X25519/X448,
# Ed25519/Ed448, ECDSA/ECDH on the prime curves, RSA (HTTP signatures), X.509
# and PEM. The rest is left out to keep the build short (CI's critical path).
ossl_opts=(no-asm no-threads no-shared no-dso no-engine no-sock no-ui-console
	no-tests no-afalgeng no-async no-secure-memory no-module no-legacy
	no-autoload-config no-aria no-bf no-blake2 no-camellia no-cast no-cmac
	no-cms no-cmp no-comp no-ct no-des no-dh no-dsa no-ec2m no-idea
	no-md4 no-mdc2 no-ocb no-ocsp no-rc2 no-rc4 no-rc5 no-rmd160 no-scrypt
	no-seed no-siphash no-siv no-sm2 no-sm3 no-sm4 no-srp no-ts no-whirlpool)
ossl="$deps/openssl"
if [ ! -f "$ossl/lib/libcrypto.a" ]; then
	src=$(debian_source openssl)
	say "building libcrypto for wasm32 from $(basename "$src") (a few minutes)"
	t0=$(now)
	(cd "$src" &&
		CC=emcc AR=emar RANLIB=emranlib CFLAGS=-O2 ./Configure linux-generic32 \
			"${ossl_opts[@]}" >"$deps/openssl-configure.log" 2>&1 &&
		make -j"$jobs" build_generated >"$deps/openssl-make.log" 2>&1 &&
		make -j"$jobs" libcrypto.a >>"$deps/openssl-make.log" 2>&1) ||
		{ say "OpenSSL build failed: see $deps/openssl-*.log"; tail -5 "$deps"/openssl-*.log >&2; exit 1; }
	rm -rf "$ossl" && mkdir -p "$ossl/lib" "$ossl/include"
	cp -r "$src/include/openssl" "$ossl/include/"
	cp "$src/libcrypto.a" "$ossl/lib/libcrypto.a"
	say "libcrypto.a built in $(($(now) - t0)) s"
fi

jan="$deps/jansson"
if [ ! -f "$jan/lib/libjansson.a" ]; then
	src=$(debian_source jansson)
	say "building jansson for wasm32 from $(basename "$src")"
	emcmake cmake -S "$src" -B "$deps/jansson-build" -DCMAKE_BUILD_TYPE=Release \
		-DJANSSON_BUILD_DOCS=OFF -DJANSSON_WITHOUT_TESTS=ON -DJANSSON_EXAMPLES=OFF \
		-DJANSSON_BUILD_SHARED_LIBS=OFF -DCMAKE_INSTALL_PREFIX="$jan" >"$deps/jansson.log" 2>&1 &&
		cmake --build "$deps/jansson-build" -j"$jobs" >>"$deps/jansson.log" 2>&1 &&
		cmake --install "$deps/jansson-build" >>"$deps/jansson.log" 2>&1 ||
		{ say "jansson build failed: see $deps/jansson.log"; exit 1; }
fi

# cmocka, for the crypto unit tests (tests/mls/test_crypto.c, test_hpke.c):
# one file, compiled as it is with what emscripten's libc has.
cm="$deps/cmocka"
if [ ! -f "$cm/lib/libcmocka.a" ]; then
	src=$(debian_source cmocka)
	say "building cmocka for wasm32 from $(basename "$src")"
	mkdir -p "$cm/lib" "$cm/include"
	emcc -O2 -c "$src/src/cmocka.c" -I"$src/include" -D_UINTPTR_T -DHAVE_SIGNAL_H \
		-DHAVE_INTTYPES_H -DHAVE_STRINGS_H -DHAVE_CLOCK_REALTIME -DHAVE_STRUCT_TIMESPEC \
		-DHAVE_STRSIGNAL -o "$cm/cmocka.o"
	emar rcs "$cm/lib/libcmocka.a" "$cm/cmocka.o"
	cp "$src/include/cmocka.h" "$cm/include/"
fi

t0=$(now)
emcmake cmake -S "$root" -B "$out" -DAIM_WASM=ON -DAIM_WERROR=ON -DCMAKE_BUILD_TYPE=Release \
	-DAIM_WASM_OPENSSL="$ossl" -DAIM_WASM_JANSSON="$jan" -DAIM_WASM_CMOCKA="$cm" >"$out/cmake.log" 2>&1 ||
	{ cat "$out/cmake.log" >&2; exit 1; }
cmake --build "$out" -j"$jobs"
say "aim layers and runner built in $(($(now) - t0)) s: $out/bin/aim-mls-vectors.wasm" \
	"($(stat -c %s "$out/bin/aim-mls-vectors.wasm") bytes)"

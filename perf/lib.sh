# Shell helpers for the perf scripts (sourced, not run): start a ringtty in the
# background and learn its URL and, with authentication on, a token for the harness.
#
#   ringtty_start LOG TOKEN_FILE BIN ARGS...
#
# starts `BIN ARGS...` with stdout and stderr in LOG, waits for its `Listening on` line
# and sets RT_PID, RT_URL (http://HOST:PORT) and RT_TOKEN_FILE. With authentication on
# and no --auth-secret-file (ringtty's default: a random key per start), the server
# prints `Login: http://HOST:PORT/?token=JWT` on stdout: the JWT is written to
# TOKEN_FILE (mode 600) and RT_TOKEN_FILE is TOKEN_FILE. With --no-auth,
# --auth-secret-file (mint with `ringtty token`, see ringtty_mint) or a server that
# prints no Login line, RT_TOKEN_FILE is empty. The token stays in files: on a command
# line it would show in `ps`.
#
#   ringtty_mint BIN SECRET_FILE TOKEN_FILE [ringtty token options...]
#
# writes a token signed with SECRET_FILE (`ringtty token`) to TOKEN_FILE (mode 600).
#
#   ringtty_secret FILE
#
# writes a fresh 32-byte random key (base64) to FILE, mode 600, for --auth-secret-file.
#
#   ringtty_certs DIR
#
# makes a throwaway CA and a certificate for localhost, 127.0.0.1 and ::1 signed by it
# with the openssl CLI (ECDSA P-256, valid 2 days): DIR/ca.pem for the harness's
# --ca-file, DIR/cert.pem and DIR/key.pem (mode 600) for `ringtty -S -C -K`. DIR should
# be a mktemp directory, removed afterwards: no key is ever committed.
#
# ringtty_start also reads `Listening on https://...` (ringtty -S): RT_URL is then
# https://HOST:PORT.

ringtty_start() {
    local log=$1 token_file=$2 bin=$3
    shift 3
    RT_PID= RT_URL= RT_TOKEN_FILE=
    "$bin" "$@" >"$log" 2>&1 &
    RT_PID=$!
    local i expect_login=1 a
    for a in "$@"; do
        case $a in --no-auth | --auth-secret-file | --auth-secret-file=*) expect_login= ;; esac
    done
    for i in $(seq 200); do
        grep -q '^Listening on' "$log" && break
        kill -0 "$RT_PID" 2>/dev/null || break
        sleep 0.05
    done
    RT_URL=$(sed -n 's|^Listening on \(https\{0,1\}://[^/]*\)/.*|\1|p' "$log")
    if [ -z "$RT_URL" ]; then
        echo "perf: ringtty did not start:" >&2
        cat "$log" >&2
        return 1
    fi
    [ -n "$expect_login" ] || return 0
    # The Login line comes right after Listening; a server without authentication (an
    # older build) never prints one, and then no token is passed.
    for i in $(seq 40); do
        grep -q '^Login: ' "$log" && break
        sleep 0.05
    done
    local jwt
    jwt=$(sed -n 's|^Login: .*[?&]token=\([^&#[:space:]]*\).*|\1|p' "$log" | head -n 1)
    if [ -z "$jwt" ]; then
        echo "perf: no Login line from $bin: running without a token" >&2
        return 0
    fi
    (umask 077 && printf '%s\n' "$jwt" >"$token_file")
    RT_TOKEN_FILE=$token_file
}

ringtty_mint() {
    local bin=$1 secret=$2 token_file=$3
    shift 3
    (umask 077 && "$bin" token --auth-secret-file "$secret" "$@" >"$token_file")
}

ringtty_secret() {
    (umask 077 && head -c 32 /dev/urandom | base64 >"$1")
}

ringtty_certs() {
    local dir=$1
    command -v openssl >/dev/null || { echo "perf: ringtty_certs needs the openssl CLI" >&2; return 1; }
    (
        umask 077
        set -e
        cd "$dir"
        openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout ca.key -out ca.pem -days 2 -subj "/CN=ringtty perf throwaway CA" \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout key.pem -out cert.csr -subj "/CN=localhost"
        printf '%s\n' basicConstraints=critical,CA:FALSE keyUsage=critical,digitalSignature \
            extendedKeyUsage=serverAuth subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1 >cert.ext
        openssl x509 -req -in cert.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile cert.ext -out cert.pem
        rm -f ca.key cert.csr cert.ext ca.srl
    ) >"$dir/openssl.log" 2>&1 || { echo "perf: openssl could not make the certificates:" >&2; cat "$dir/openssl.log" >&2; return 1; }
    rm -f "$dir/openssl.log"
}

# ringtty_room_for NAME SESSIONS: makes room for SESSIONS sessions (one PTY and about three
# descriptors each, plus 64 spare): raises kernel.pty.max if it can, and this shell's
# open-file and process limits to their hard limits; fails with the command to run
# when it cannot.
ringtty_room_for() {
    local name=$1 sessions=$2
    local need=$((sessions + 64)) pty_max pty_nr want fds
    pty_max=$(cat /proc/sys/kernel/pty/max); pty_nr=$(cat /proc/sys/kernel/pty/nr)
    if [ $((pty_max - pty_nr)) -lt $need ]; then
        want=$((pty_nr + need + 1024))
        if sysctl -qw kernel.pty.max=$want 2>/dev/null; then
            echo "$name: raised kernel.pty.max $pty_max -> $want" >&2
        else
            echo "perf/$name.sh: $sessions sessions need $need free PTYs but kernel.pty.max is $pty_max" \
                "($pty_nr in use): run \`sysctl -w kernel.pty.max=$want\` or pass fewer SESSIONS" >&2
            return 1
        fi
    fi
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    ulimit -u "$(ulimit -Hu)" 2>/dev/null || true
    fds=$((3 * sessions + 256))
    if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $fds ]; then
        echo "perf/$name.sh: $sessions sessions need about $fds open files: \`ulimit -n $fds\` (as root)" >&2
        return 1
    fi
}

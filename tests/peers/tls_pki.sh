#!/usr/bin/env bash
# A throwaway PKI for the TLS peer tests, made with the openssl CLI (no key is ever
# committed: run it into a temporary directory).   Usage: tls_pki.sh DIR [LABEL]
# LABEL, when given, ends the CAs' common names, to tell two PKIs apart.
#
# Writes into DIR, each as NAME.pem (certificate) and NAME.key (private key, P-256):
#   ca            a CA ("ringtty peer CA")
#   server        localhost + 127.0.0.1 (subjectAltName DNS and IP), serverAuth, by ca
#   alice, bob    client certificates (CN=alice, CN=bob, clientAuth), by ca
#   expired       client certificate CN=expired by ca, valid 2020-01-01..2021-01-01
#   other-ca      a second, unrelated CA
#   other-alice   client certificate CN=alice by other-ca
# The expired certificate is backdated with `openssl ca -startdate/-enddate`, which every
# openssl has (`openssl x509 -not_before` only exists from 3.4; Debian bookworm has 3.0).
set -euo pipefail
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 DIR [LABEL]" >&2; exit 2; }
label=${2:+ $2}
mkdir -p "$1"
cd "$1"
umask 077

# One config for every step, so the system's openssl.cnf (its default extensions) has no say.
cat >pki.cnf <<'EOF'
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ ca_ext ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ server_ext ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ client_ext ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
# `openssl ca`, used only for the backdated certificate
[ ca ]
default_ca = backdating
[ backdating ]
dir = ./ca-db
database = $dir/index.txt
new_certs_dir = $dir
serial = $dir/serial
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[ anything ]
commonName = supplied
EOF

newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)

# ca NAME CN: a self-signed CA, valid for 10 days.
ca() {
  openssl req -x509 -new "${newkey[@]}" -config pki.cnf -extensions ca_ext \
    -subj "/CN=$2" -days 10 -keyout "$1.key" -out "$1.pem" 2>/dev/null
}

# leaf CA NAME CN EXT: a certificate for CN signed by CA, valid for 10 days.
leaf() {
  openssl req -new "${newkey[@]}" -config pki.cnf -subj "/CN=$3" -keyout "$2.key" -out "$2.csr" 2>/dev/null
  openssl x509 -req -in "$2.csr" -CA "$1.pem" -CAkey "$1.key" -set_serial "0x$(openssl rand -hex 16)" \
    -days 10 -sha256 -extfile pki.cnf -extensions "$4" -out "$2.pem" 2>/dev/null
  rm -f "$2.csr"
}

ca ca "ringtty peer CA$label"
leaf ca server localhost server_ext
leaf ca alice alice client_ext
leaf ca bob bob client_ext

# expired: signed by ca, but its validity ended in 2021.
mkdir -p ca-db
: >ca-db/index.txt
openssl rand -hex 16 >ca-db/serial
openssl req -new "${newkey[@]}" -config pki.cnf -subj "/CN=expired" -keyout expired.key -out expired.csr 2>/dev/null
openssl ca -batch -config pki.cnf -extensions client_ext -cert ca.pem -keyfile ca.key -notext \
  -startdate 20200101000000Z -enddate 20210101000000Z -in expired.csr -out expired.pem 2>/dev/null
rm -rf ca-db expired.csr

ca other-ca "ringtty peer other CA$label"
leaf other-ca other-alice alice client_ext

# Check what was made, so a broken openssl fails here and not as a puzzling refusal later.
openssl verify -CAfile ca.pem server.pem alice.pem bob.pem >/dev/null
openssl verify -CAfile other-ca.pem other-alice.pem >/dev/null
if openssl verify -CAfile ca.pem expired.pem >/dev/null 2>&1; then
  echo "tls_pki.sh: expired.pem is not expired" >&2; exit 1
fi
openssl x509 -in server.pem -noout -ext subjectAltName | grep -q 'DNS:localhost, IP Address:127.0.0.1' ||
  { echo "tls_pki.sh: server.pem lacks its subjectAltName" >&2; exit 1; }

// Precompresses the built UI for embedding: for every file under DIST writes FILE.gz
// (gzip -9) and FILE.br (brotli, quality 11) beside it when they are smaller than the
// file, and a manifest for build.rs: one line per file,
//   relative/path TAB content-hash TAB has-gzip(0|1) TAB has-brotli(0|1)
// The hash (SHA-256, 128 bits in base64url) becomes the strong ETag.
//
// Usage: node scripts/compress.mjs DIST MANIFEST
// Node's own zlib does both codings, so the Rust build needs no compression crate.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const [dist, manifest] = process.argv.slice(2);
if (!dist || !manifest) {
  console.error('usage: node scripts/compress.mjs DIST MANIFEST');
  process.exit(2);
}

function* files(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    // Earlier runs' outputs: the build empties DIST, but a manual rerun must not nest them.
    else if (!/\.(gz|br)$/.test(entry.name)) yield path;
  }
}

const lines = [];
for (const path of [...files(dist)].sort()) {
  const raw = readFileSync(path);
  const hash = createHash('sha256').update(raw).digest('base64url').slice(0, 22);
  const gz = gzipSync(raw, { level: 9 });
  const br = brotliCompressSync(raw, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
      [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
    },
  });
  // A coding that does not save bytes is not offered: identity is served instead.
  const hasGz = gz.length < raw.length;
  const hasBr = br.length < raw.length;
  if (hasGz) writeFileSync(`${path}.gz`, gz);
  if (hasBr) writeFileSync(`${path}.br`, br);
  const rel = relative(dist, path).split(sep).join('/');
  if (/[\t\n]/.test(rel)) throw new Error(`unexpected file name ${JSON.stringify(rel)}`);
  lines.push(`${rel}\t${hash}\t${hasGz ? 1 : 0}\t${hasBr ? 1 : 0}`);
}
writeFileSync(manifest, lines.join('\n') + '\n');

// The byte layout bcl_core.viewer_data.pack_payload writes: magic "BCLV1\0", uint32 LE header
// length, UTF-8 JSON header {"items": [{"id", "raw_size", "chunks": [compressed sizes]}]},
// then each item's zlib chunks in order. Chunks inflate in parallel with the browser's own
// DecompressionStream ("deflate" = zlib, RFC 1950).
const MAGIC = [66, 67, 76, 86, 49, 0];

export function parsePayload(bytes) {
  for (let i = 0; i < MAGIC.length; i += 1) {
    if (bytes[i] !== MAGIC[i]) throw new Error("not a viewer payload");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(MAGIC.length, true);
  const start = MAGIC.length + 4;
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(start, start + length)));
  let offset = start + length;
  const items = header.items.map((item) => {
    const chunks = item.chunks.map((size) => {
      const chunk = bytes.subarray(offset, offset + size);
      offset += size;
      return chunk;
    });
    return { ...item, chunkBytes: chunks };
  });
  return { items, body: bytes };
}

async function inflateChunk(chunk) {
  const stream = new Blob([chunk]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export async function inflateItem(item) {
  const parts = await Promise.all(item.chunkBytes.map(inflateChunk));
  const out = new Uint8Array(item.raw_size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  if (offset !== item.raw_size) throw new Error("the image arrived incomplete; load the case again");
  return out.buffer;
}

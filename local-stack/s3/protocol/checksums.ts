/** The body checksums S3 clients declare (in a header or an aws-chunked trailer) and the local S3 server verifies. */
import { createHash, type Hash } from 'node:crypto';
import zlib from 'node:zlib';

export type ChecksumName = 'crc32' | 'sha1' | 'sha256' | 'md5';

export interface Checksum {
  readonly header: string;
  update(data: Buffer): void;
  digest(): string;
}

export function createChecksum(name: ChecksumName, header: string): Checksum | undefined {
  if (name === 'crc32') {
    // zlib.crc32 exists from Node 20.15 / 22.2; without it CRC32 checksums are not verified.
    if (typeof zlib.crc32 !== 'function') return undefined;
    let value = 0;
    return {
      header,
      update: (data) => {
        value = zlib.crc32(data, value);
      },
      digest: () => {
        const out = Buffer.alloc(4);
        out.writeUInt32BE(value >>> 0);
        return out.toString('base64');
      },
    };
  }
  const hash: Hash = createHash(name);
  return {
    header,
    update: (data) => {
      hash.update(data);
    },
    digest: () => hash.digest('base64'),
  };
}

export const CHECKSUM_HEADERS: Record<string, ChecksumName> = {
  'x-amz-checksum-crc32': 'crc32',
  'x-amz-checksum-sha1': 'sha1',
  'x-amz-checksum-sha256': 'sha256',
  'content-md5': 'md5',
};

/**
 * "4,294,967,297 bytes (4.0 GiB)": a size in a message a person reads, exact (a limit and a size just over it
 * would otherwise read the same) and at a glance.
 */
export function formatBytes(bytes: number): string {
  const exact = `${bytes.toLocaleString('en-US')} bytes`;
  const units = [
    [1024 ** 3, 'GiB'],
    [1024 ** 2, 'MiB'],
    [1024, 'KiB'],
  ] as const;
  const unit = units.find(([size]) => bytes >= size);
  return unit === undefined ? exact : `${exact} (${(bytes / unit[0]).toFixed(1)} ${unit[1]})`;
}

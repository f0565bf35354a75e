/**
 * AssemblyScript (compiled to sieve.wasm by `npm run build:wasm`): the mod-30 wheel's tables, the same as
 * ../wheel.ts computes for the JS kernel, built once when the module is instantiated. Each is a run of i32
 * in the module's static data, read with load<i32>(table + index·4).
 */
export const WHEEL: usize = memory.data<i32>([1, 7, 11, 13, 17, 19, 23, 29]);
export const GAP: usize = memory.data(8 * 4);
export const CARRY: usize = memory.data(64 * 4);
export const MASK: usize = memory.data(64 * 4);
export const OFFSET: usize = memory.data(64 * 4);

const BIT_OF_RESIDUE: usize = memory.data(30 * 4);

export function at(table: usize, index: i32): i32 {
  return load<i32>(table + ((<usize>index) << 2));
}

function put(table: usize, index: i32, value: i32): void {
  store<i32>(table + ((<usize>index) << 2), value);
}

function wheelAt(i: i32): i32 {
  return i === 8 ? 31 : at(WHEEL, i);
}

for (let x = 0; x < 30; x++) put(BIT_OF_RESIDUE, x, -1);
for (let k = 0; k < 8; k++) put(BIT_OF_RESIDUE, at(WHEEL, k), k);
for (let i = 0; i < 8; i++) put(GAP, i, wheelAt(i + 1) - wheelAt(i));
for (let r = 0; r < 8; r++) {
  for (let i = 0; i < 8; i++) {
    const wr = at(WHEEL, r);
    const wi = at(WHEEL, i);
    put(OFFSET, r * 8 + i, (wr * wi) / 30);
    put(CARRY, r * 8 + i, (wr * wheelAt(i + 1)) / 30 - (wr * wi) / 30);
    put(MASK, r * 8 + i, 1 << at(BIT_OF_RESIDUE, (wr * wi) % 30));
  }
}

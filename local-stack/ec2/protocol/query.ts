/** The EC2 Query API's parameters: form-encoded `Name.1.Sub.2=value` pairs, read with EC2's list conventions. */

/** The flat `Name.1.Sub.2=value` parameters of one request, with helpers for EC2's list conventions. */
export class QueryParams {
  constructor(private readonly map: Map<string, string>) {}

  static parse(body: string): QueryParams {
    const map = new Map<string, string>();
    for (const [key, value] of new URLSearchParams(body)) map.set(key, value);
    return new QueryParams(map);
  }

  get(name: string): string | undefined {
    return this.map.get(name);
  }

  /** Values of `prefix.1`, `prefix.2`, … in index order (gaps allowed). */
  list(prefix: string): string[] {
    return this.indexes(prefix).map((index) => this.map.get(`${prefix}.${index}`) ?? '');
  }

  /** Sub-parameter views of `prefix.N.*`, in index order. */
  structs(prefix: string): QueryParams[] {
    return this.indexes(prefix).map((index) => {
      const start = `${prefix}.${index}.`;
      const sub = new Map<string, string>();
      for (const [key, value] of this.map) if (key.startsWith(start)) sub.set(key.slice(start.length), value);
      return new QueryParams(sub);
    });
  }

  private indexes(prefix: string): number[] {
    const found = new Set<number>();
    const start = `${prefix}.`;
    for (const key of this.map.keys()) {
      if (!key.startsWith(start)) continue;
      const match = /^(\d+)(?:\.|$)/.exec(key.slice(start.length));
      if (match?.[1] !== undefined) found.add(Number(match[1]));
    }
    return [...found].sort((a, b) => a - b);
  }
}

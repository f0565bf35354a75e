/** EC2's filter-value wildcards, matched without building a RegExp from request input. */

/** Matches EC2 filter values: `*` any run of characters, `?` one character, `\` escapes. */
export function wildcardMatch(pattern: string, value: string): boolean {
  // EC2 filter wildcards: `*` any run, `?` one character, `\` escapes the next. Matched by the classic greedy
  // scan with one backtrack point rather than a RegExp built from the pattern: a request's pattern is input,
  // and a long one must neither exceed the RegExp engine's limits (a crash as a 500) nor backtrack exponentially.
  const tokens: { char: string; wildcard?: '*' | '?' }[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) tokens.push({ char: pattern[++i]! });
    else if (c === '*' || c === '?') tokens.push({ char: c, wildcard: c });
    else tokens.push({ char: c });
  }
  let t = 0;
  let v = 0;
  let star = -1;
  let resume = 0;
  while (v < value.length) {
    const token = tokens[t];
    if (token !== undefined && (token.wildcard === '?' || (token.wildcard === undefined && token.char === value[v]))) {
      t++;
      v++;
    } else if (token?.wildcard === '*') {
      star = t++;
      resume = v;
    } else if (star !== -1) {
      t = star + 1;
      v = ++resume;
    } else {
      return false;
    }
  }
  while (tokens[t]?.wildcard === '*') t++;
  return t === tokens.length;
}

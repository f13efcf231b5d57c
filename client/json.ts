// A JSON parser that keeps integers beyond 2^53 exact (as bigint); pure, no dependencies.

/** A parsed JSON value where integers outside ±(2^53 − 1) are `bigint` instead of a rounded `number`. */
export type JsonValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

// Any integer of at most 15 digits is a safe integer, so text without a 16-digit run parses exactly with JSON.parse.
const LONG_DIGITS = /\d{16}/;
const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

/**
 * Parses JSON text like `JSON.parse`, except that an integer literal that is not a safe integer
 * (beyond ±9007199254740991) becomes a `bigint` with its exact value. Safe integers and numbers
 * with a fraction or exponent stay `number`. Throws `SyntaxError` on malformed input.
 */
export function parseJson(text: string): JsonValue {
  if (!LONG_DIGITS.test(text)) return JSON.parse(text) as JsonValue;
  let i = 0;
  const fail = (): never => {
    throw new SyntaxError(`Unexpected JSON at position ${i}`);
  };
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const value = (): JsonValue => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj: { [key: string]: JsonValue } = {};
      ws();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        const key = value() as string;
        ws();
        if (text[i++] !== ':') fail();
        obj[key] = value();
        ws();
        const d = text[i++];
        if (d === '}') return obj;
        if (d !== ',') fail();
      }
    }
    if (c === '[') {
      i++;
      const arr: JsonValue[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value());
        ws();
        const d = text[i++];
        if (d === ']') return arr;
        if (d !== ',') fail();
      }
    }
    if (c === '"') {
      // Find the closing quote, skipping escapes, and let JSON.parse decode the escapes exactly.
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length) fail();
      const s = JSON.parse(text.slice(i, j + 1)) as string;
      i = j + 1;
      return s;
    }
    for (const [word, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) return fail();
    i += m[0].length;
    const n = Number(m[0]);
    return m[1] || m[2] || Number.isSafeInteger(n) ? n : BigInt(m[0]);
  };
  const result = value();
  ws();
  if (i < text.length) fail();
  return result;
}

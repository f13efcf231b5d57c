// Request targets in absolute-form (`http://host/get/k`) read as the origin-form path they carry. Pure.
import { SluiceError } from '../errors.js';

/**
 * `http://` or `https://` (any case), then an authority up to the first '/', '?' or the end, of the characters RFC
 * 3986 §3.2 allows in host and port (unreserved, pct-encoded, sub-delims, ':', '[', ']'; node:http accepts the same
 * and '@'). Not empty (RFC 9110 §4.2.1: such a URI is invalid), no userinfo (RFC 9110 §4.2.4: a recipient treats it
 * as an error) and no fragment (absolute-form has none, RFC 9112 §3.2.2).
 */
const ABSOLUTE_FORM = /^https?:\/\/[\w\-.~%!$&'()*+,;=:[\]]+(?=[/?]|$)/i;

/**
 * The origin-form of a request target: itself when it starts with '/'; for absolute-form (RFC 9112 §3.2.2, what
 * proxies such as haproxy may forward) the path and query after the authority, '/' when the path is empty
 * (`http://host?a` is `/?a`). The authority is ignored: the broker serves whatever host it is reached by.
 * Undefined for any other target (asterisk-form, authority-form, another scheme, a malformed URL).
 */
export function originFormOf(target: string): string | undefined {
  if (target.charCodeAt(0) === 0x2f) return target;
  const authority = ABSOLUTE_FORM.exec(target);
  if (authority === null) return undefined;
  const rest = target.slice(authority[0].length);
  return rest.charCodeAt(0) === 0x2f ? rest : '/' + rest;
}

/** The refusal of a target originFormOf does not read, saying what was expected. */
export function badTargetError(target: string): SluiceError {
  return new SluiceError(
    'SLUICE_ERR_HTTP_BAD_TARGET',
    `ERR expected a request target that is a path (/…) or an absolute http(s)://host/… URL, got ${JSON.stringify(target.slice(0, 100))}`,
  );
}

/**
 * An origin-form target relative to the base path (`/redis` and `/redis/` are the base URL itself, read as `/`):
 * the target itself when there is no base path. Undefined when the target is not under the base path.
 */
export function underBasePath(target: string, basePath: string): string | undefined {
  if (basePath === '') return target;
  if (!target.startsWith(basePath)) return undefined;
  const rest = target.slice(basePath.length);
  if (rest === '' || rest.startsWith('?')) return '/' + rest;
  return rest.startsWith('/') ? rest : undefined;
}

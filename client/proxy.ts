// Methods named after commands, made on demand by a Proxy: `client.get(…)`, `client.scriptLoad(…)`; no list at run time.

import type { Arg } from './args.js';

/**
 * The command words a method name stands for: upper-cased, split where a lower-case letter or digit is followed
 * by an upper-case one. `get` → `GET`; `scriptLoad` → `SCRIPT LOAD`; `eval_ro` → `EVAL_RO`; `JSON.SET` stays.
 */
export function commandWords(method: string): string[] {
  return method
    .replace(/([a-z\d])(?=[A-Z])/g, '$1 ')
    .toUpperCase()
    .split(' ');
}

/**
 * Wraps `target` so that its own members stay reachable (methods bound to it, so `#private` fields work) and
 * every other string property is a function that calls `run` with the command words and the arguments.
 * `then` is never a command, so a wrapped object is not mistaken for a promise by `await`.
 */
export function withCommands<T extends object, R>(target: T, run: (words: string[], args: Arg[]) => R): T {
  return new Proxy(target, {
    get(obj, property) {
      if (typeof property === 'symbol' || property in obj || property === 'then') {
        const value: unknown = Reflect.get(obj, property);
        return typeof value === 'function' ? value.bind(obj) : value;
      }
      return (...args: Arg[]) => run(commandWords(property), args);
    },
  });
}

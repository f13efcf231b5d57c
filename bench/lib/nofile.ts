// Wraps a command so it starts with a raised open-files limit (10,000 sockets need more than the usual 1024).

/** `sh -c 'ulimit -n N || ulimit -n hard; exec cmd args'`: the pid stays the command's own after exec. */
export function withNofile(
  limit: number,
  command: string,
  args: readonly string[],
): { command: string; args: string[] } {
  const script = 'ulimit -n "$1" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; shift; exec "$@"';
  return { command: 'sh', args: ['-c', script, 'sh', String(limit), command, ...args] };
}

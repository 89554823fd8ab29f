// The structured logger the xDS server and client write to: one JSON object per line, leveled.
// Callers never pass tokens or private keys in `fields`.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function jsonLogger(opts: { scope: string; level?: LogLevel; write?: (line: string) => void; now?: () => Date }): Logger {
  const min = ORDER[opts.level ?? 'info'];
  const write = opts.write ?? ((line: string) => process.stderr.write(line));
  const now = opts.now ?? (() => new Date());
  const log = (level: LogLevel) => (msg: string, fields?: LogFields): void => {
    if (ORDER[level] < min) return;
    write(`${JSON.stringify({ time: now().toISOString(), level, scope: opts.scope, msg, ...fields })}\n`);
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

export const silentLogger: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

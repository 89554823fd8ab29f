// The one structured logger: one JSON object per line on stderr, leveled, with the scope that wrote it
// (control plane, xDS server and client, proxy, lab helpers). Two shapes of the same thing: a Logger
// object (`log.warn(msg, fields)`) and a LogFn (`log('warn', msg, fields)`) for the data path's objects
// that take one function; `loggerFrom` and `logFnOf` turn one into the other.
// Callers never pass tokens or private keys in `fields`.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;
export type LogFn = (level: LogLevel, msg: string, fields?: LogFields) => void;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** The level a process logs at unless told: debug when MESHGATE_DEBUG=1, else info. */
export function defaultLogLevel(): LogLevel {
  return process.env.MESHGATE_DEBUG === '1' ? 'debug' : 'info';
}

export function jsonLogger(opts: { scope: string; level?: LogLevel; write?: (line: string) => void; now?: () => Date }): Logger {
  return loggerFrom(jsonLogFn(opts));
}

/** jsonLogger's LogFn shape. */
export function jsonLogFn(opts: { scope: string; level?: LogLevel; write?: (line: string) => void; now?: () => Date }): LogFn {
  const min = ORDER[opts.level ?? defaultLogLevel()];
  const write = opts.write ?? ((line: string) => process.stderr.write(line));
  const now = opts.now ?? (() => new Date());
  return (level, msg, fields) => {
    if (ORDER[level] < min) return;
    write(`${JSON.stringify({ time: now().toISOString(), level, scope: opts.scope, msg, ...fields })}\n`);
  };
}

export function loggerFrom(log: LogFn): Logger {
  return {
    debug: (m, f) => log('debug', m, f),
    info: (m, f) => log('info', m, f),
    warn: (m, f) => log('warn', m, f),
    error: (m, f) => log('error', m, f),
  };
}

export function logFnOf(logger: Logger): LogFn {
  return (level, msg, fields) => logger[level](msg, fields);
}

export const silentLogger: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

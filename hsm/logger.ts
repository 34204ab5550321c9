/**
 * The logger custody takes: pino's `logger.warn(obj, msg)` shape, so a pino logger (or a child of it)
 * passes as is. Custody logs public facts only: kind, labels, paths, public keys.
 */
export interface CustodyLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
  info?(obj: Record<string, unknown>, msg: string): void;
}

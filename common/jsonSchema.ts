import type { FromSchema, JSONSchema } from 'json-schema-to-ts';

/**
 * The TypeScript type of the values a JSON Schema (declared `as const`) accepts, so a contract is
 * written once, as the schema Ajv enforces, and its type is derived from it rather than kept beside
 * it by hand. json-schema-to-ts does the derivation (the same one the services' config types use,
 * runtime/config.ts); this makes the result read-only all the way down: a contract is read, not
 * edited. Types only: nothing here exists at run time.
 */
export type SchemaType<S extends JSONSchema> = DeepReadonly<FromSchema<S>>;

/** Read-only at every level (arrays become readonly arrays); functions are left as they are. */
export type DeepReadonly<T> = T extends (...args: never[]) => unknown
  ? T
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

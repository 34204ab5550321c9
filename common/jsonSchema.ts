/**
 * The TypeScript type of the values a JSON Schema (declared `as const`) accepts, so a wire contract
 * is written once, as the schema Ajv enforces, and its type is derived from it rather than kept
 * beside it by hand. Types only: nothing here exists at run time.
 *
 * Covers the keywords the project's contracts use: `type` (string, integer, number, boolean,
 * array, object), `const`, `enum`, `items`, `properties` with `required`. A keyword it does not
 * know (e.g. `oneOf`) makes the value `unknown`, never a wrong type. Every object it builds is
 * readonly: a contract is read, not edited. Whether `additionalProperties: false` holds is Ajv's
 * business; the type lists the declared properties either way.
 */
export type SchemaType<S> = S extends { readonly const: infer C }
  ? C
  : S extends { readonly enum: readonly (infer E)[] }
    ? E
    : S extends { readonly type: 'string' }
      ? string
      : S extends { readonly type: 'integer' | 'number' }
        ? number
        : S extends { readonly type: 'boolean' }
          ? boolean
          : S extends { readonly type: 'array'; readonly items: infer I }
            ? readonly SchemaType<I>[]
            : S extends { readonly type: 'object'; readonly properties: infer P }
              ? ObjectOf<P, RequiredOf<S>>
              : unknown;

type RequiredOf<S> = S extends { readonly required: readonly (infer R)[] } ? R : never;

type ObjectOf<P, R> = Flatten<
  { readonly [K in keyof P as K extends R ? K : never]: SchemaType<P[K]> } & {
    readonly [K in keyof P as K extends R ? never : K]?: SchemaType<P[K]>;
  }
>;

/** One object type instead of an intersection, so editors and errors show the fields. */
type Flatten<T> = { [K in keyof T]: T[K] } & {};

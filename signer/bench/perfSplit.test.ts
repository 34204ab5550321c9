import { describe, expect, it } from 'vitest';
import { partOf } from './perfSplit.ts';

// Frames as `perf script -F ip,sym,dso` prints them, the sampled frame first.
const js = (fn: string, file: string) => `7f4ee4296a27 JS:*${fn} ${file} (/tmp/perf-9295.map)`;
const native = (fn: string, dso = '/usr/bin/node') => `14c036c ${fn} (${dso})`;

describe('perfSplit.partOf: the part of the request path a perf sample belongs to', () => {
  it('names a sample by the first frame, from the sampled one up, that a part claims', () => {
    // OpenSSL encrypting fastify's reply: the reply asked for it, TLS did it.
    const tlsUnderReply = [
      native('aesni_gcm_encrypt', '/usr/lib/x86_64-linux-gnu/libcrypto.so.3'),
      native('node::crypto::TLSWrap::DoWrite'),
      js('Reply.send', '/app/node_modules/fastify/lib/reply.js:156:33'),
      js('', 'file:///app/signer/server.ts:1:6813'),
    ];
    expect(partOf(tlsUnderReply)).toBe('TLS (OpenSSL)');
    expect(partOf(tlsUnderReply.slice(2))).toBe('fastify, pino');
    expect(partOf(tlsUnderReply.slice(3))).toBe('the signer\u2019s own request code');
    expect(
      partOf([
        js('taggedHash', 'file:///app/staking/taproot.ts:1:845'),
        js('validateSignRequest', 'file:///app/signer/validate.ts:1:1146'),
        js('#decide', 'file:///app/signer/service.ts:1:1987'),
      ]),
    ).toBe('decision (validation, staking/, curve calls)');
    // OpenSSL's digest under a staking/ hash is the decision's, not TLS.
    expect(
      partOf([
        native('sha256_block_data_order_avx2', '/usr/lib/x86_64-linux-gnu/libcrypto.so.3'),
        native('EVP_DigestUpdate', '/usr/lib/x86_64-linux-gnu/libcrypto.so.3'),
        js('sha256', 'file:///app/common/sha256.node.ts:1:160'),
        js('taggedHash', 'file:///app/staking/taproot.ts:1:845'),
      ]),
    ).toBe('decision (validation, staking/, curve calls)');
    expect(
      partOf([
        native('v8::internal::Scavenger::ScavengeObject'),
        js('append', 'file:///app/signer/audit.ts:5:4492'),
      ]),
    ).toBe('V8 garbage collection');
  });

  it('names samples in libraries perf cannot walk out of by the library', () => {
    expect(partOf([native('[unknown]', '/usr/lib/x86_64-linux-gnu/libsecp256k1.so.1.0.0')])).toBe(
      'curve (libsecp256k1)',
    );
    expect(partOf([native('[unknown]', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so')])).toBe('SoftHSM');
  });

  it('puts the libuv pool thread with file writes, and what nothing claims with its library', () => {
    expect(
      partOf([
        native('iowrite16', '[kernel.kallsyms]'),
        native('__GI___libc_write', '/usr/lib/x86_64-linux-gnu/libc.so.6'),
        native('worker'),
        native('start_thread', '/usr/lib/x86_64-linux-gnu/libc.so.6'),
      ]),
    ).toBe('file writes (libuv pool)');
    expect(partOf([native('pvm_irq_enable', '[kernel.kallsyms]'), native('[unknown]', '[unknown]')])).toBe(
      'kernel, other',
    );
    expect(partOf([native('_int_malloc', '/usr/lib/x86_64-linux-gnu/libc.so.6')])).toBe(
      'libc (malloc, system calls), other',
    );
    expect(partOf([native('Builtins_LoadIC')])).toBe('V8 and Node, other');
  });
});

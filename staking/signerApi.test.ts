import { Ajv } from 'ajv';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  SIGN_TRANSACTIONS_REQUEST_SCHEMA,
  SIGN_TRANSACTIONS_RESPONSE_SCHEMA,
  SIGN_UNBONDING_REQUEST_SCHEMA,
  SIGN_UNBONDING_RESPONSE_SCHEMA,
  SIGNER_ERROR_SCHEMA,
  type SignerErrorBody,
  type SignTransactionsRequestBody,
  type SignTransactionsResponse,
  type SignUnbondingRequestBody,
} from './signerApi.ts';

// The signer's own Ajv settings (signer/server.ts): no coercion, nothing removed, strict schemas.
const ajv = new Ajv({ strict: true, coerceTypes: false, removeAdditional: false, useDefaults: false });

const unbonding: SignUnbondingRequestBody = {
  staking_output_pk_script_hex: `5120${'11'.repeat(32)}`,
  unbonding_tx_hex: '02000000000101',
  staker_unbonding_sig_hex: 'ab'.repeat(64),
  covenant_public_key: `02${'22'.repeat(32)}`,
};

const phase2: SignTransactionsRequestBody = {
  staking_tx_hex: '00',
  slashing_tx_hex: '00',
  unbonding_tx_hex: '00',
  slash_unbonding_tx_hex: '00',
  staking_output_idx: 0,
  slashing_script_hex: '00',
  unbonding_script_hex: '00',
  unbonding_slashing_script_hex: '00',
  fp_enc_keys: [`02${'33'.repeat(32)}`],
};

describe('the covenant signer wire contract', () => {
  it('phase 1: the reference body passes; staking_tx_hex is optional; unknown or missing fields are refused', () => {
    const ok = ajv.compile(SIGN_UNBONDING_REQUEST_SCHEMA);
    expect(ok(unbonding)).toBe(true);
    expect(ok({ ...unbonding, staking_tx_hex: '02' })).toBe(true);
    expect(ok({ ...unbonding, extra: 'x' })).toBe(false);
    const { covenant_public_key: _, ...missing } = unbonding;
    expect(ok(missing)).toBe(false);
    expect(ok({ ...unbonding, unbonding_tx_hex: 12 })).toBe(false);
    expect(ajv.compile(SIGN_UNBONDING_RESPONSE_SCHEMA)({ data: { signature_hex: 'ab'.repeat(64) } })).toBe(
      true,
    );
    expect(ajv.compile(SIGN_UNBONDING_RESPONSE_SCHEMA)({ data: {} })).toBe(false);
  });

  it('phase 2: the reference body passes, with or without a stake expansion; a bad index or extra field is refused', () => {
    const ok = ajv.compile(SIGN_TRANSACTIONS_REQUEST_SCHEMA);
    expect(ok(phase2)).toBe(true);
    const expansion = {
      previous_active_stake_tx_hex: '00',
      other_funding_output_hex: '00',
      previous_staking_output_idx: 1,
      previous_active_stake_unbonding_script_hex: '00',
    };
    expect(ok({ ...phase2, stake_expansion: expansion })).toBe(true);
    expect(ok({ ...phase2, stake_expansion: { ...expansion, extra: 1 } })).toBe(false);
    expect(ok({ ...phase2, staking_output_idx: -1 })).toBe(false);
    expect(ok({ ...phase2, staking_output_idx: 1.5 })).toBe(false);
    expect(ok({ ...phase2, staking_output_idx: '0' })).toBe(false);
    expect(ok({ ...phase2, fp_enc_keys: Array(17).fill('02') })).toBe(false);
    const response: SignTransactionsResponse = {
      slashing_transactions_signatures: ['aa'],
      unbonding_transaction_signature: 'bb',
      slash_unbonding_transactions_signatures: ['cc'],
      stake_expansion_transaction_signature: '',
    };
    const answer = ajv.compile(SIGN_TRANSACTIONS_RESPONSE_SCHEMA);
    expect(answer({ data: response })).toBe(true);
    const { stake_expansion_transaction_signature: _, ...noExpansion } = response;
    expect(answer({ data: noExpansion })).toBe(false);
  });

  it('errors: errorCode and message are the reference’s; code is ours and optional', () => {
    const ok = ajv.compile(SIGNER_ERROR_SCHEMA);
    const ours: SignerErrorBody = { errorCode: 'BAD_REQUEST', message: 'm', code: 'SIGNER_BAD_REQUEST_BODY' };
    expect(ok(ours)).toBe(true);
    expect(ok({ errorCode: 'BAD_REQUEST', message: 'm' })).toBe(true);
    expect(ok({ message: 'm', code: 'SIGNER_BAD_REQUEST_BODY' })).toBe(false);
    expect(ok({ ...ours, signature_hex: 'ab' })).toBe(false);
  });

  it('the types are the schemas’: required fields required, optional ones optional, integers numbers', () => {
    expectTypeOf<SignUnbondingRequestBody>().toEqualTypeOf<{
      readonly staking_output_pk_script_hex: string;
      readonly unbonding_tx_hex: string;
      readonly staker_unbonding_sig_hex: string;
      readonly covenant_public_key: string;
      readonly staking_tx_hex?: string;
    }>();
    expectTypeOf<SignTransactionsRequestBody['staking_output_idx']>().toEqualTypeOf<number>();
    expectTypeOf<SignTransactionsRequestBody['fp_enc_keys']>().toEqualTypeOf<readonly string[]>();
    expectTypeOf<SignTransactionsRequestBody['stake_expansion']>().toEqualTypeOf<
      | {
          readonly previous_active_stake_tx_hex: string;
          readonly other_funding_output_hex: string;
          readonly previous_staking_output_idx: number;
          readonly previous_active_stake_unbonding_script_hex: string;
        }
      | undefined
    >();
    expectTypeOf<SignerErrorBody>().toEqualTypeOf<{
      readonly errorCode: string;
      readonly message: string;
      readonly code?: string;
    }>();
  });
});
